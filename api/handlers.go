package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// OK is the body of a successful write without a richer result.
type OK struct {
	OK bool `json:"ok"`
}

// ReadyBody is the body of /readyz.
type ReadyBody struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// fail writes the response for an error from decoding or from the backend.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeError(w, re.status, ErrorBody{Error: re.msg, Code: re.code})
		return
	}
	status, body := statusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Warn("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if body.Code == "conflict" && body.Current != 0 {
		w.Header().Set("ETag", etag(body.Current))
	}
	writeError(w, status, body)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	ready, reason := s.backend.Ready(ctx)
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, ReadyBody{Ready: ready, Reason: reason})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	st, err := s.backend.Status(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if st.Version == "" {
		st.Version = s.opts.Version
	}
	writeJSON(w, http.StatusOK, st)
}

// MembersBody is the body of GET /v1/members.
type MembersBody struct {
	Members []Member `json:"members"`
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	ms, err := s.backend.Members(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ms == nil {
		ms = []Member{}
	}
	writeJSON(w, http.StatusOK, MembersBody{Members: ms})
}

// ServicesBody is the body of GET /v1/services.
type ServicesBody struct {
	Node     string           `json:"node"`              // the node whose kernel counters these are
	Backend  string           `json:"backend,omitempty"` // its data plane: ipvs, nftables, none
	Services []VirtualService `json:"services"`
}

func (s *Server) handleServices(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	svcs, err := s.backend.Services(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.backend.Status(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if svcs == nil {
		svcs = []VirtualService{}
	}
	writeJSON(w, http.StatusOK, ServicesBody{Node: st.Node, Backend: st.Backend, Services: svcs})
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	stale, err := boolParam(r, "stale")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var doc ConfigDoc
	if sr, ok := s.backend.(StaleReader); stale && ok {
		doc, err = sr.StaleConfig(ctx)
	} else if stale {
		err = badRequest("stale: this node does not serve stale reads")
	} else {
		doc, err = s.backend.Config(ctx)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if doc.Stale {
		w.Header().Set("X-Quadrature-Stale", "true")
	}
	tag := etag(doc.Version)
	w.Header().Set("ETag", tag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		if doc.Files == nil {
			doc.Files = map[string]string{}
		}
		writeJSON(w, http.StatusOK, doc)
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write([]byte(doc.Rendered))
	default:
		s.fail(w, r, badRequest("format: want json or text, got %q", f))
	}
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	validateOnly, err := boolParam(r, "validate")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.putConfig(w, r, validateOnly)
}

// boolParam reads an optional boolean query parameter (absent = false).
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s: want 1/true or 0/false, got %q", name, v)
	}
	return b, nil
}

func (s *Server) handleValidateConfig(w http.ResponseWriter, r *http.Request) {
	s.putConfig(w, r, true)
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request, validateOnly bool) {
	expect, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	allowEmpty, err := boolParam(r, "allow_empty")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := decodeConfig(r)
	if errors.Is(err, errNoFiles) {
		if !allowEmpty {
			s.fail(w, r, EmptyConfigError())
			return
		}
		// An empty set of files, asked for: an empty main file.
		q.Files = map[string]string{q.Main: ""}
		err = q.validate()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	req := PutConfigRequest{
		Main: q.Main, Files: q.Files, ExpectVersion: expect, ValidateOnly: validateOnly,
		AllowEmpty: allowEmpty, Origin: "api remote=" + r.RemoteAddr,
	}
	if !allowEmpty && !mentionsInstancesOrServers(q.Files) {
		// Certainly empty, whatever the backend's evaluation: refuse, but
		// report the configuration's own errors first.
		check := req
		check.ValidateOnly, check.AllowEmpty = true, true
		if _, err := s.backend.PutConfig(ctx, check); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, EmptyConfigError())
		return
	}
	res, err := s.backend.PutConfig(ctx, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if res.Version != 0 {
		w.Header().Set("ETag", etag(res.Version))
	}
	if !validateOnly {
		s.log.Info("config written", "version", res.Version, "files", len(q.Files), "allow_empty", allowEmpty, "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, res)
}

// mentionsInstancesOrServers reports whether any file, outside comments
// (# or ! to the end of the line, not within quotes), says vrrp_instance
// or virtual_server. When none does, the configuration has neither for
// any node (white space, comments, global_defs only...); when one does,
// the backend's evaluation per node decides.
func mentionsInstancesOrServers(files map[string]string) bool {
	for _, content := range files {
		for line := range strings.Lines(content) {
			line = stripConfigComment(line)
			if strings.Contains(line, "vrrp_instance") || strings.Contains(line, "virtual_server") {
				return true
			}
		}
	}
	return false
}

// stripConfigComment cuts a keepalived comment off line.
func stripConfigComment(line string) string {
	inQuote := false
	for i, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '#' || c == '!'):
			return line[:i]
		}
	}
	return line
}

func (s *Server) handleDrain(drained bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var q DrainRequest
		if err := decodeBody(r.Body, &q); err != nil {
			s.fail(w, r, err)
			return
		}
		ctx, cancel := s.backendCtx(r)
		defer cancel()
		if err := s.backend.Drain(ctx, q.VS, q.RS, drained); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("real server drain", "vs", q.VS, "rs", q.RS, "drained", drained, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, OK{OK: true})
	}
}

func (s *Server) handleMaintenance(w http.ResponseWriter, r *http.Request) {
	var q MaintenanceRequest
	if err := decodeBody(r.Body, &q); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	if err := s.backend.Maintenance(ctx, q.Node, *q.On); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("node maintenance", "node", q.Node, "on", *q.On, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var q TransferRequest
	if err := decodeBody(r.Body, &q); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	if err := s.backend.TransferVIP(ctx, q.Instance, q.Node); err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Node == "" {
		s.log.Info("vip transfer cleared", "instance", q.Instance, "remote", r.RemoteAddr)
	} else {
		s.log.Info("vip transfer", "instance", q.Instance, "node", q.Node, "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, OK{OK: true})
}

// RaftServersBody is the body of GET /v1/raft/servers.
type RaftServersBody struct {
	Servers []RaftServer `json:"servers"`
}

func (s *Server) handleRaftServers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	srvs, err := s.backend.RaftServers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if srvs == nil {
		srvs = []RaftServer{}
	}
	writeJSON(w, http.StatusOK, RaftServersBody{Servers: srvs})
}

func (s *Server) handleAddServer(witness bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var q RaftServerRequest
		if err := decodeBody(r.Body, &q); err != nil {
			s.fail(w, r, err)
			return
		}
		ctx, cancel := s.backendCtx(r)
		defer cancel()
		add := s.backend.AddVoter
		if witness {
			add = s.backend.AddWitness
		}
		if err := add(ctx, q.Name, q.Addr); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("raft server added", "node", q.Name, "addr", q.Addr, "witness", witness, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, OK{OK: true})
	}
}

func (s *Server) handleRemoveServer(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	if err := s.backend.RemoveServer(ctx, name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("raft server removed", "node", name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	var q SnapshotRequest
	if err := decodeOptional(r.Body, &q); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	if err := s.backend.Snapshot(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("raft snapshot requested", slog.String("remote", r.RemoteAddr))
	writeJSON(w, http.StatusOK, OK{OK: true})
}
