// Package config owns quadrature's configuration language: the
// keepalived.conf dialect.
//
// It reads files (include with globs and {a,b} braces, relative to the
// including file, cycles detected; a glob matching nothing is fine except
// for includem/includea), applies keepalived's conditional lines (@node,
// @^node, matched against the node name, keepalived's config-id), expands
// $NAME / ${NAME} parameters (recursive, multi-line with a trailing '\'),
// tokenizes ('#' and '!' comments at the start of a word, "..." with C
// escapes, '...', ';' separators, braces on the same or the next line),
// builds a statement tree (Lex, Parse), decodes it into a typed model
// (Config) with every default and inherited value resolved, and validates
// it. Every problem is reported, as "file:line: message", in one sorted
// ErrorList; warnings are returned separately.
//
// Entry points: Load / LoadBytes (file or bytes to *Config), Cluster.Files,
// Config.Render
// and Config.RenderCompact (canonical keepalived.conf text that loads back
// to an equal model), Config.JSON, Equal / Diff, Merge (per-node files to one
// cluster file with @node lines), ParseHosts (hosts(5) files).
//
// Host names (real_server tic 42, bindto, connect_ip, sorry_server, cluster
// peers) are resolved once, at load time, through LoadOptions.Resolver or a
// hosts(5) file, to the address family of the enclosing virtual server; the
// model keeps the name and the address.
//
// Keywords: a keepalived keyword quadrature does not implement is an error
// "not supported: KEYWORD" (see notSupported in keywords.go); keepalived's
// process-tuning keywords (vrrp_priority, *_no_swap, process_names, ...)
// are accepted with an "ignored" warning; any other unknown keyword is an
// error with the closest known keyword as a suggestion. quadrature's own
// keywords are the cluster block, lvs_backend in global_defs and
// quorum_fence in vrrp_instance.
//
// The cluster block (Cluster; several statements may share a line):
//
//	cluster {
//	  node_name NAME                 # default: the node name (config-id)
//	  bind ADDRESS                   # raft, gossip and API address (required)
//	  raft_port 9901 ; gossip_port 9902
//	  peers HOST...                  # may list this node's own bind address
//	  bootstrap_expect N             # default: the nodes listed
//	  data_dir /var/lib/quadrature
//	  role voter|witness ; verdict_policy any|majority|all
//	  quorum_fence [on|off] ; degraded_after 10s ; placement configured|auto
//	  credentials DIR                # written by `quadrature cluster init`
//	  insecure [yes|no]              # a group without credentials
//	  gossip_key_file FILE           # default: DIR/gossip.key
//	  tls {                          # raft mutual TLS; default: DIR/node.crt,
//	    cert_file FILE               # DIR/node.key, DIR/ca.crt
//	    key_file FILE
//	    ca_file FILE
//	  }
//	  api {
//	    listen ADDRESS:PORT          # default: bind:9900
//	    token_file FILE              # default: DIR/api-token
//	    read_token_file FILE         # default: DIR/api-read-token
//	    metrics_auth [on|off]
//	    cert_file FILE ; key_file FILE   # API over TLS; default: DIR/node.crt, node.key
//	    ca_file FILE                 # verifies API peers; default: DIR/ca.crt
//	  }
//	}
//
// Groups are secure by default: a group of more than one node (peers or
// bootstrap_expect) without mutual TLS (credentials or tls) or without a
// gossip key (credentials or gossip_key_file) is an error at the cluster
// block unless `insecure` (keepalived's flag syntax: bare, or yes/no,
// true/false, on/off) is set, which is then warned about. Explicit
// keywords win over the credentials directory (Cluster.Files resolves the
// effective paths; the Cred*File constants name the directory's files);
// insecure with full credentials is ignored, with a warning. Nothing is
// opened at load time: `config check` may run on another machine.
//
// Config.NodeNames lists every name the conditional lines use (@NAME,
// @^NAME, matching this node or not, in included files too; a file
// included under a condition that does not hold is not read). Like Pos,
// it describes the source rather than its meaning: it is in JSON but not
// part of Equal / Diff, since a rendered file has no conditional lines.
//
// Choices that differ from keepalived (each one also warned or documented
// where it happens):
//   - A virtual_ipaddress of the other family than the instance's first VIP
//     is moved to virtual_ipaddress_excluded with a warning. keepalived 2.x
//     (vrrp_data.c alloc_vrrp_vip) drops it with "address family must match
//     VRRP instance - ignoring", losing an address the operator asked for.
//   - nopreempt with priority 255 is an error (keepalived clears nopreempt
//     with a warning); authentication with VRRPv3 or IPv6, and AH with state
//     MASTER, are errors.
//   - Host names are accepted where keepalived 2.2 requires addresses.
//   - An instance without interface needs unicast peers (keepalived's
//     default_interface applies to addresses, not to instances).
//   - A static_routes / virtual_routes / static_rules / virtual_rules line
//     keepalived cannot read ("Invalid rule to address ...") is an error
//     at its line; keepalived logs it and runs without the route or rule.
//     Rules without a preference get keepalived's (16384 down, per family,
//     in file order) with its warning. Table, realm and protocol names are
//     the built-in ones (rt_tables and friends are not read).
//
// Units: durations are time.Duration (JSON: integer nanoseconds), addresses
// netip.Addr / netip.Prefix / netip.AddrPort. Pos fields are not part of
// JSON or of model equality.
//
// It must not touch the network (no DNS unless the caller passes a
// Resolver that does) or the kernel, and it never panics on any input
// (FuzzLex, FuzzParse, FuzzHosts).
//
// Callers: cmd/quadrature (config check/show/merge, the agent's startup),
// fsm and cluster (which replicate and consume the model), api (config
// upload validation).
package config
