// Package checks owns real-server health checking with keepalived's
// semantics: one file per checker behind the Checker interface (TCP_CHECK,
// HTTP_GET, SSL_GET, SMTP_CHECK, DNS_CHECK, MISC_CHECK, UDP_CHECK,
// PING_CHECK, FILE_CHECK), the MISC_CHECK script runner (exit-code and
// misc_dynamic weight rules, process-group kill on timeout, script
// security), and one Scheduler that runs thousands of checkers from a
// single timer heap with bounded concurrency (delay_loop, warmup offsets,
// retry, delay_before_retry, alpha, omega).
//
// It emits Observations (real server verdict and weight changes) on a
// channel and keeps a State snapshot; it never writes cluster state and
// never programs the kernel. It is a leaf: apart from internal/scriptexec
// (which runs the scripts) it imports no other quadrature package and
// defines its own spec types (Spec, RealServerSpec); the agent
// (agent/checksconf.go) converts the parsed keepalived.conf into them
// (resolving virtual_server -> real_server -> checker inheritance), calls
// Update on every config change, runs Run, and consumes Observations.
//
// Threading: Update, State and Observations are safe for concurrent use;
// Run is called once. A Checker's Check is never called concurrently with
// itself.
package checks
