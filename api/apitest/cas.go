package apitest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"quadrature/api"
	"quadrature/api/client"
)

// The configuration is a register with compare-and-swap: GET /v1/config
// reads (version, content); PUT /v1/config with If-Match: "v" replaces the
// content iff the running version is v, and yields a larger version. The
// content identifying a configuration is its main file's text.

// CASInput is one operation of the history.
type CASInput struct {
	Put     bool   // false: read
	Expect  uint64 // If-Match of a put
	Content string // main file of a put
}

// CASOutput is what the operation observed.
type CASOutput struct {
	Version  uint64 // read: version read; put ok: new version
	Content  string // read: main file read
	OK       bool   // put accepted
	Conflict bool   // put refused with 412
	Unknown  bool   // error or timeout: a put may or may not have happened
}

// CASState is the model's state; Known is false after a put of unknown
// outcome took effect, when the version it produced was never observed.
type CASState struct {
	Version uint64
	Content string
	Known   bool
}

// CASModel returns the porcupine model of the configuration register,
// starting from init (read before the concurrent run).
func CASModel(init CASState) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{init} },
		Step: func(state, input, output interface{}) []interface{} {
			s, in, out := state.(CASState), input.(CASInput), output.(CASOutput)
			return casStep(s, in, out)
		},
		DescribeOperation: func(input, output interface{}) string {
			in, out := input.(CASInput), output.(CASOutput)
			if !in.Put {
				if out.Unknown {
					return "get() -> ?"
				}
				return fmt.Sprintf("get() -> v%d %q", out.Version, short(out.Content))
			}
			switch {
			case out.OK:
				return fmt.Sprintf("put(if v%d, %q) -> v%d", in.Expect, short(in.Content), out.Version)
			case out.Conflict:
				return fmt.Sprintf("put(if v%d, %q) -> conflict", in.Expect, short(in.Content))
			}
			return fmt.Sprintf("put(if v%d, %q) -> ?", in.Expect, short(in.Content))
		},
		DescribeState: func(state interface{}) string {
			s := state.(CASState)
			if !s.Known {
				return fmt.Sprintf("v? %q", short(s.Content))
			}
			return fmt.Sprintf("v%d %q", s.Version, short(s.Content))
		},
	}
	return nm.ToModel()
}

func short(s string) string {
	if len(s) > 40 {
		return "…" + s[len(s)-40:]
	}
	return s
}

func casStep(s CASState, in CASInput, out CASOutput) []interface{} {
	if !in.Put {
		switch {
		case out.Unknown:
			return []interface{}{s}
		case s.Known && out.Version == s.Version && out.Content == s.Content:
			return []interface{}{s}
		case !s.Known && out.Content == s.Content:
			return []interface{}{CASState{Version: out.Version, Content: out.Content, Known: true}}
		}
		return nil
	}
	matches := !s.Known || in.Expect == s.Version
	switch {
	case out.OK:
		if matches && (!s.Known || out.Version > s.Version) {
			return []interface{}{CASState{Version: out.Version, Content: in.Content, Known: true}}
		}
		return nil
	case out.Conflict:
		if !s.Known || in.Expect != s.Version {
			return []interface{}{s}
		}
		return nil
	}
	// Unknown outcome: it either never happened or replaced the content.
	next := []interface{}{s}
	if matches {
		next = append(next, CASState{Content: in.Content})
	}
	return next
}

// CASRun configures RunConfigCAS.
type CASRun struct {
	// Clients are the concurrent writers/readers, e.g. one per node of a
	// cluster, or several on one endpoint. All need the admin token.
	Clients []*client.Client
	// OpsPerClient is the number of operations each client performs.
	OpsPerClient int
	// Base is the configuration written; each put appends a unique comment
	// line to its main file. It must be valid for the target.
	Base api.ConfigRequest
	// ReadRatio is the probability of a read (default 0.3).
	ReadRatio float64
	// Timeout bounds each operation (default 10 s); a timed-out put is
	// recorded with an unknown outcome.
	Timeout time.Duration
	// Seed makes the choice of operations reproducible.
	Seed uint64
}

// RunConfigCAS drives concurrent reads and CAS writes of the configuration
// through the API and returns the history and the initial state read before
// the run. Each client writes with If-Match set to the last version it saw,
// like an operator's read-modify-write loop.
func RunConfigCAS(ctx context.Context, run CASRun) (CASState, []porcupine.Operation, error) {
	if len(run.Clients) == 0 || run.OpsPerClient <= 0 {
		return CASState{}, nil, errors.New("cas run: no clients or no operations")
	}
	if run.ReadRatio == 0 {
		run.ReadRatio = 0.3
	}
	if run.Timeout <= 0 {
		run.Timeout = 10 * time.Second
	}
	main := run.Base.Main
	if main == "" {
		main = api.DefaultMainFile
	}
	doc, err := run.Clients[0].Config(ctx)
	if err != nil {
		return CASState{}, nil, fmt.Errorf("cas run: initial read: %w", err)
	}
	init := CASState{Version: doc.Version, Content: doc.Files[doc.Main], Known: true}
	start := time.Now()
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		wg      sync.WaitGroup
	)
	for id, c := range run.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(run.Seed, uint64(id)))
			last := init.Version
			for op := 0; op < run.OpsPerClient && ctx.Err() == nil; op++ {
				in := CASInput{Put: rng.Float64() >= run.ReadRatio}
				var out CASOutput
				octx, cancel := context.WithTimeout(ctx, run.Timeout)
				call := time.Since(start).Nanoseconds()
				if in.Put {
					in.Expect = last
					in.Content = fmt.Sprintf("%s\n# cas client %d op %d\n", run.Base.Files[main], id, op)
					req := api.ConfigRequest{Main: main, Files: map[string]string{}}
					for k, v := range run.Base.Files {
						req.Files[k] = v
					}
					req.Files[main] = in.Content
					res, err := c.PutConfig(octx, req, in.Expect)
					var ce *client.Error
					switch {
					case err == nil:
						out = CASOutput{OK: true, Version: res.Version}
						last = res.Version
					case errors.Is(err, api.ErrConflict):
						out = CASOutput{Conflict: true}
						if errors.As(err, &ce) && ce.Body.Current != 0 {
							last = ce.Body.Current
						}
					default:
						out = CASOutput{Unknown: true}
					}
				} else {
					d, err := c.Config(octx)
					if err != nil {
						out = CASOutput{Unknown: true}
					} else {
						out = CASOutput{Version: d.Version, Content: d.Files[d.Main]}
						last = d.Version
					}
				}
				ret := time.Since(start).Nanoseconds()
				cancel()
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return init, history, ctx.Err()
}

// CheckConfigCAS checks a history for linearizability against CASModel.
// It returns porcupine.Ok, porcupine.Illegal, or porcupine.Unknown when the
// search exceeded timeout (0 = no limit).
func CheckConfigCAS(init CASState, history []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(CASModel(init), history, timeout)
}

// CheckConfigCASVisual is CheckConfigCAS that also writes porcupine's HTML
// visualization of the history to htmlPath (for a failed run's artifacts).
func CheckConfigCASVisual(init CASState, history []porcupine.Operation, timeout time.Duration, htmlPath string) (porcupine.CheckResult, error) {
	model := CASModel(init)
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	return res, porcupine.VisualizePath(model, info, htmlPath)
}

// CASSummary counts the outcomes of a history, for test logs.
func CASSummary(history []porcupine.Operation) (reads, ok, conflicts, unknown int) {
	for _, op := range history {
		in, out := op.Input.(CASInput), op.Output.(CASOutput)
		switch {
		case out.Unknown:
			unknown++
		case !in.Put:
			reads++
		case out.OK:
			ok++
		case out.Conflict:
			conflicts++
		}
	}
	return
}
