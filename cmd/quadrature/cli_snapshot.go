package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"quadrature/agent"
	"slices"
	"strconv"
	"strings"

	"quadrature/api"
	"quadrature/api/client"
	"quadrature/fsm"
)

func init() {
	register(command{name: "snapshot", summary: "back up (save) or restore the group's replicated state; inspect a backup (API client)", run: runSnapshot})
}

const snapshotUsage = `Usage:
  quadrature snapshot save [flags] FILE
  quadrature snapshot restore [flags] FILE
  quadrature snapshot inspect [-o json] FILE

save writes a consistent snapshot of the group's replicated state to FILE
(mode 0600): the configuration (main file and includes; not the scripts
it names), verdicts, drains, maintenance, transfers and the deny list,
with the raft index and term, the config version and a SHA-256 of the
state. It needs the admin token. FILE is not overwritten without -force.

restore replaces the group's state with FILE's: the leader restores it
(raft's user restore; forwarded from any node) and every node installs it
and programs its configuration version again. FILE is verified here
first (complete, checksum), then the node decodes the state in full
before anything changes: a damaged, truncated or foreign file is refused
and the group is left as it was. The raft membership is not in a snapshot
and stays as it is. Every node must run a quadrature that has this
command.

inspect verifies FILE offline (it does not contact the API) and prints
what it holds; it exits 1 when FILE would be refused.
`

func runSnapshot(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, snapshotUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "save":
		return snapshotSave(rest, stdout, stderr)
	case "restore":
		return snapshotRestore(rest, stdout, stderr)
	case "inspect":
		return snapshotInspect(rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, snapshotUsage)
		return 0
	}
	fmt.Fprintf(stderr, "quadrature snapshot: unknown subcommand %s (save, restore, inspect)\n", strconv.Quote(verb))
	return 2
}

func snapshotSave(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("snapshot save", snapshotUsage, stdout, stderr)
	force := f.fs.Bool("force", false, "overwrite FILE if it exists")
	return f.run(args, 1, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		path := pos[0]
		if _, err := os.Lstat(path); err == nil && !*force {
			return fmt.Errorf("%s exists (-force overwrites it)", path)
		}
		h, env, err := c.SaveSnapshot(ctx)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(path, env, 0o600); err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, h)
		}
		_, err = fmt.Fprintf(stdout, "snapshot saved to %s: config version %d, raft index %d (term %d) on %s, %d bytes of state, sha256 %s\n",
			path, h.ConfigVersion, h.RaftIndex, h.RaftTerm, h.Node, h.Size, h.SHA256)
		return err
	})
}

// writeFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path: path is never left half written.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readSnapshotFile reads and verifies an envelope from path.
func readSnapshotFile(path string) (api.SnapshotHeader, []byte, []byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return api.SnapshotHeader{}, nil, nil, fileError(err)
	}
	defer file.Close()
	// The envelope is the payload plus two short lines.
	env, err := io.ReadAll(io.LimitReader(file, api.MaxSnapshotBody+64<<10))
	if err != nil {
		return api.SnapshotHeader{}, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	h, payload, err := api.ReadSnapshot(bytes.NewReader(env), api.MaxSnapshotBody)
	if err != nil {
		return h, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, payload, env, nil
}

func snapshotRestore(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("snapshot restore", snapshotUsage, stdout, stderr)
	return f.run(args, 1, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		h, _, env, err := readSnapshotFile(pos[0])
		if err != nil {
			return fmt.Errorf("%w\nnothing was sent: the group is unchanged", err)
		}
		res, err := c.RestoreSnapshot(ctx, env)
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Body.Code == "invalid_snapshot" {
				return fmt.Errorf("%s: %w", pos[0], err)
			}
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, res)
		}
		_, err = fmt.Fprintf(stdout, "snapshot %s restored: the group runs config version %d (saved on %s at raft index %d, %s), installed at raft index %d\n",
			pos[0], res.ConfigVersion, h.Node, h.RaftIndex, h.Created.Format("2006-01-02 15:04:05 MST"), res.RaftIndex)
		return err
	})
}

// snapshotSummary is what 'snapshot inspect -o json' prints.
type snapshotSummary struct {
	Header      api.SnapshotHeader `json:"header"`
	Main        string             `json:"main"`
	Files       []string           `json:"files"`
	Nodes       []string           `json:"nodes"`
	LiveNodes   []string           `json:"live_nodes"`
	Maintenance []string           `json:"maintenance"`
	Drained     []string           `json:"drained"`
	Revoked     []string           `json:"revoked"`
	Restorable  bool               `json:"restorable"`
	Problem     string             `json:"problem,omitempty"`
}

func snapshotInspect(args []string, stdout, stderr io.Writer) int {
	// The API flags are accepted (and unused) so that inspect takes the
	// same command line as save and restore.
	f := newAPIFlags("snapshot inspect", snapshotUsage, stdout, stderr)
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return f.usageError("want FILE, got %d arguments", len(pos))
	}
	path := pos[0]
	h, payload, _, err := readSnapshotFile(path)
	if err != nil {
		return f.fail(err)
	}
	st, err := agent.CheckSnapshotPayload(fsm.New(fsm.Options{}), h, payload)
	sum := snapshotSummary{Header: h, Restorable: err == nil}
	if err != nil {
		sum.Problem = err.Error()
		// Show what can be shown of a state that decodes but would be
		// refused.
		st, _ = fsm.New(fsm.Options{}).DecodeSnapshot(payload)
	}
	if st != nil {
		if src := st.Source(); src != nil {
			sum.Main = src.Main
			for name := range src.Files {
				sum.Files = append(sum.Files, name)
			}
		}
		sum.Nodes, sum.LiveNodes, sum.Maintenance, sum.Revoked = st.ConfigNodes(), st.LiveNodes(), st.Maintenance(), st.Revoked()
		for _, d := range st.Drained() {
			sum.Drained = append(sum.Drained, d.VS+" "+d.RS.String())
		}
	}
	slices.Sort(sum.Files)
	if f.json() {
		if err := writeJSONOut(stdout, sum); err != nil {
			return 1
		}
	} else {
		rows := [][]string{
			{"file", path},
			{"taken on", h.Node + " at " + h.Created.Format("2006-01-02 15:04:05 MST") + " (quadrature " + h.QuadratureVersion + ")"},
			{"raft index", fmt.Sprintf("%d (term %d)", h.RaftIndex, h.RaftTerm)},
			{"config version", strconv.FormatUint(h.ConfigVersion, 10)},
			{"state", fmt.Sprintf("%d bytes, sha256 %s (verified)", h.Size, h.SHA256)},
			{"main file", sum.Main},
			{"files", strings.Join(sum.Files, " ")},
			{"nodes", strings.Join(sum.Nodes, " ")},
			{"live nodes", strings.Join(sum.LiveNodes, " ")},
			{"maintenance", strings.Join(sum.Maintenance, " ")},
			{"drained", strings.Join(sum.Drained, ", ")},
			{"revoked", strings.Join(sum.Revoked, " ")},
			{"restorable", yesNo(sum.Restorable)},
		}
		if sum.Problem != "" {
			rows = append(rows, []string{"problem", sum.Problem})
		}
		table(stdout, rows)
	}
	if !sum.Restorable {
		return 1
	}
	return 0
}
