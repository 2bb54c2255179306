// Package config owns quadrature's configuration language: the
// keepalived.conf dialect.
//
// It reads files (include with globs, relative to the including file, cycles
// detected), applies keepalived's conditional lines (@node, @^node, matched
// against the node name, keepalived's config-id), expands $NAME / ${NAME}
// parameters, tokenizes (quotes, '#' and '!' comments, ';' separators),
// builds a statement tree (Parse), decodes it into a typed model (Config)
// with every default and inherited value resolved, and validates it,
// returning every problem as "file:line: message" (ErrorList). It also
// renders a model back to canonical keepalived.conf text (Config.Render),
// and merges per-node files into one cluster file with @node lines (Merge).
//
// Host names (real_server tic 42, bindto, connect_ip, sorry_server) are
// resolved once, at load time, through LoadOptions.Resolver or a hosts(5)
// file, to the address family of the enclosing virtual server.
//
// It must not touch the network (no DNS unless the caller passes a
// Resolver that does) or the kernel, and it never panics on any input.
//
// Callers: cmd/quadrature (config check/show/merge, the agent's startup),
// fsm and cluster (which replicate and consume the model), api (config
// upload validation).
package config
