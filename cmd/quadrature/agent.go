package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"quadrature/agent"
	"quadrature/api"
	"quadrature/cluster"
	"quadrature/config"
	"quadrature/internal/journal"
	"quadrature/internal/sdnotify"
)

func init() {
	register(command{name: "agent", summary: "run a director node (VRRP, checkers, load-balancing table, the group)", run: runAgent})
}

const agentUsage = `Usage: quadrature agent -config FILE [flags]

Runs one node: the VRRP instances, the health checkers and the
load-balancing table of a keepalived.conf. With a cluster block the node
joins its group (Raft + gossip) and programs what the group agreed;
without one it runs alone, like keepalived.

Signals: SIGHUP re-reads the file and proposes it to the group (an invalid
file changes nothing); SIGTERM and SIGINT stop (VRRP masters send
priority 0 and remove their VIPs).

Flags:
`

func runAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quadrature agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), agentUsage); fs.PrintDefaults() }
	var (
		cfgPath   = fs.String("config", "/etc/keepalived/keepalived.conf", "keepalived.conf to run")
		node      = fs.String("node", "", "node name / config-id for @NAME lines (default: first label of the host name)")
		dataDir   = fs.String("data-dir", "", "state directory (default: cluster data_dir, else "+config.DefaultDataDir+")")
		hosts     = fs.String("hosts", "", "hosts(5) file to resolve host names in the config instead of the system resolver")
		apiListen = fs.String("api-listen", "", "admin API address (default: cluster api listen, else 127.0.0.1:9900); 'off' disables it")
		backend   = fs.String("backend", "", "load-balancing backend: auto, ipvs, nftables or none (default: lvs_backend)")
		timing    = fs.String("timing", "default", "failure-detection profile: default or tuned (sub-second, for small LANs)")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		logJSON   = fs.Bool("log-json", false, "log as JSON")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "quadrature agent: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "quadrature agent: -log-level: %v\n", err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(stderr, hopts)
	if *logJSON {
		handler = slog.NewJSONHandler(stderr, hopts)
	}
	// Under systemd, journald stamps each line and reads its priority
	// from a "<N>" prefix: no time of our own, the level as a prefix.
	if f, ok := stderr.(*os.File); ok && journal.Connected(f, os.Getenv) {
		handler = journal.NewTextHandler(stderr, hopts)
		if *logJSON {
			handler = journal.NewJSONHandler(stderr, hopts)
		}
	}
	log := slog.New(handler)
	var tm cluster.Timing
	switch *timing {
	case "default":
		tm = cluster.DefaultTiming()
	case "tuned":
		tm = cluster.TunedTiming()
	default:
		fmt.Fprintf(stderr, "quadrature agent: -timing %q: want default or tuned\n", *timing)
		return 2
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	acfg := agent.Config{
		ConfigPath: *cfgPath, Node: *node, DataDir: *dataDir, HostsFile: *hosts,
		Backend: *backend, Timing: tm, Logger: log, Registry: reg, Version: version,
	}
	ag, err := agent.New(acfg)
	if err != nil {
		printConfigErr(stderr, err)
		return 1
	}
	// The agent's own lines carry node=; so do the API's and the signal
	// handling's from here on.
	log = log.With("node", ag.Name())
	local := ag.LocalConfig()
	listen := *apiListen
	var apiOpts api.Options
	if c := local.Cluster; c != nil {
		if listen == "" && c.API.Listen.IsValid() {
			listen = c.API.Listen.String()
		}
		files := c.Files()
		apiOpts.AdminTokenFile = files.TokenFile
		apiOpts.ReadTokenFile = files.ReadTokenFile
		apiOpts.MetricsAuth = c.API.MetricsAuth
		// With credentials (or api cert_file/key_file) the API is HTTPS,
		// and peers are verified against the group's CA.
		if files.APICertFile != "" && files.APIKeyFile != "" {
			apiOpts.TLSCertFile, apiOpts.TLSKeyFile = files.APICertFile, files.APIKeyFile
			apiOpts.PeerCAFile = files.APICAFile
			if files.APICAFile != "" {
				// Nodes ask each other (fan-out) with their own
				// certificates: read access for the group's nodes.
				apiOpts.ClientCAFile = files.APICAFile
				apiOpts.PeerCertFile, apiOpts.PeerKeyFile = files.APICertFile, files.APIKeyFile
				apiOpts.PeerAllowed = func(name string) bool {
					if ag.FSM().State().IsRevoked(name) {
						return false
					}
					n := ag.Node()
					if n == nil {
						return false
					}
					for _, m := range n.Members() {
						if m.Name == name {
							return true
						}
					}
					return false
				}
			}
		} else if files.ReadTokenFile != "" {
			// No TLS (an insecure group): peers get the read-only token,
			// never the caller's.
			if tok, err := api.ReadTokenFile(files.ReadTokenFile); err == nil {
				apiOpts.PeerToken = tok
			}
		}
		if c.Insecure && c.ListedNodes() > 1 {
			log.Warn("cluster: INSECURE: this group runs without credentials (insecure yes): whoever reaches its raft, gossip or API ports can join, vote and reprogram the load balancer; run `quadrature cluster init` and use `credentials DIR`")
		}
	}
	if listen == "" {
		listen = api.DefaultListen
	}
	if listen != "off" {
		ag.SetAPIAddr(advertisedAPI(listen, local))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var srv *api.Server
	if listen != "off" {
		apiOpts.Backend = &agent.APIBackend{Agent: ag, Version: version}
		apiOpts.Listen = listen
		apiOpts.DataDir = ag.DataDir()
		apiOpts.Gatherer = reg
		apiOpts.Version = version
		apiOpts.Logger = log
		srv, err = api.New(apiOpts)
		if err != nil {
			fmt.Fprintf(stderr, "quadrature agent: api: %v\n", err)
			return 1
		}
		if err := srv.Start(); err != nil {
			fmt.Fprintf(stderr, "quadrature agent: api: %v\n", err)
			return 1
		}
	}
	sd, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("agent: systemd notification disabled", "err", err)
		sd = &sdnotify.Notifier{}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			log.Info("agent: SIGHUP: reloading", "config", *cfgPath)
			notify(log, sd, sdnotify.Reloading, sdnotify.MonotonicUsec(), sdnotify.Status("reloading "+*cfgPath))
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			status := "serving; last reload committed"
			if err := ag.Reload(rctx); err != nil {
				log.Error("agent: reload refused; the running configuration is unchanged", "err", oneLine(err))
				status = "serving; last reload refused (the running configuration is unchanged): " + oneLine(err)
			} else {
				log.Info("agent: reload committed")
			}
			cancel()
			if srv != nil {
				if err := srv.ReloadTokens(); err != nil {
					log.Error("api: reload tokens", "err", err)
				}
			}
			select {
			case <-ag.Ready():
				notify(log, sd, sdnotify.Ready, sdnotify.Status(status))
			default: // READY=1 comes when the node serves (serviceManager)
				notify(log, sd, sdnotify.Status("starting; "+strings.TrimPrefix(status, "serving; ")))
			}
		}
	}()
	go serviceManager(ctx, log, sd, ag)
	runErr := ag.Run(ctx)
	notify(log, sd, sdnotify.Stopping, sdnotify.Status("stopping"))
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		fmt.Fprintf(stderr, "quadrature agent: %v\n", runErr)
		return 1
	}
	return 0
}

// serviceManager tells systemd (Type=notify) when the node serves — once
// the first table is programmed, or the startup hold is over — and, when
// WatchdogSec is set, feeds the watchdog for as long as the agent's apply
// loop keeps going round. A stuck loop stops the keepalives, and systemd
// restarts the service. Without $NOTIFY_SOCKET it does nothing.
func serviceManager(ctx context.Context, log *slog.Logger, sd *sdnotify.Notifier, ag serviceState) {
	if !sd.Enabled() {
		return
	}
	interval, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("agent: systemd watchdog disabled", "err", err)
		interval = 0
	}
	select {
	case <-ctx.Done():
		return
	case <-ag.Ready():
	}
	notify(log, sd, sdnotify.Ready, sdnotify.Status("serving ("+ag.ReadyReason()+")"))
	log.Info("agent: told systemd the node is ready", "reason", ag.ReadyReason(), "watchdog", interval.String())
	if interval <= 0 {
		return
	}
	// Keepalives at half the interval; the loop counts as alive when it
	// went round within half the interval (it ticks every 500 ms).
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	stale := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		since := time.Since(ag.LoopAlive())
		if since > interval/2 {
			if !stale {
				log.Error("agent: the apply loop is stuck; not feeding the systemd watchdog", "last_round", since.Round(time.Millisecond).String())
			}
			stale = true
			continue
		}
		if stale {
			log.Warn("agent: the apply loop is going round again", "last_round", since.Round(time.Millisecond).String())
			stale = false
		}
		notify(log, sd, sdnotify.Watchdog)
	}
}

// serviceState is what serviceManager watches (a *agent.Agent).
type serviceState interface {
	Ready() <-chan struct{}
	ReadyReason() string
	LoopAlive() time.Time
}

// notify sends states to systemd, logging (not failing on) an error.
func notify(log *slog.Logger, sd *sdnotify.Notifier, states ...string) {
	if err := sd.Notify(states...); err != nil {
		log.Warn("agent: systemd notification failed", "err", err)
	}
}

// advertisedAPI is the API address peers should use: the listen address,
// with an unspecified host replaced by the cluster bind address.
func advertisedAPI(listen string, c *config.Config) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if (host == "" || host == "0.0.0.0" || host == "::") && c.Cluster != nil && c.Cluster.Bind.IsValid() {
		return net.JoinHostPort(c.Cluster.Bind.String(), port)
	}
	return listen
}

func printConfigErr(w io.Writer, err error) {
	var el config.ErrorList
	if errors.As(err, &el) {
		for _, d := range el {
			fmt.Fprintln(w, d.String())
		}
		return
	}
	fmt.Fprintf(w, "quadrature agent: %v\n", fileError(err))
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
