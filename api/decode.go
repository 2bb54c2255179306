package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Request bodies of the write endpoints. The client package sends the same
// types, so the wire format has one definition.

// DrainRequest is the body of POST /v1/drain and POST /v1/undrain.
type DrainRequest struct {
	VS string `json:"vs"` // VirtualService.ID
	RS string `json:"rs"` // RealServer.ID
}

// MaintenanceRequest is the body of POST /v1/maintenance.
type MaintenanceRequest struct {
	Node string `json:"node"`
	On   *bool  `json:"on"` // required
}

// TransferRequest is the body of POST /v1/transfer. An empty Node clears
// the instance's transfer: the placement decides again.
type TransferRequest struct {
	Instance string `json:"instance"`
	Node     string `json:"node"`
}

// RaftServerRequest is the body of POST /v1/raft/voters and /v1/raft/witnesses.
type RaftServerRequest struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // host:port of the node's raft transport
}

// SnapshotRequest is the (optional, empty) body of POST /v1/raft/snapshot.
type SnapshotRequest struct{}

// ConfigRequest is the JSON body of PUT /v1/config and POST
// /v1/config/validate. A text/plain body is also accepted: one file, named
// by the ?main= query parameter or "keepalived.conf".
type ConfigRequest struct {
	Main  string            `json:"main"` // "keepalived.conf" if empty
	Files map[string]string `json:"files"`
}

// Limits on a configuration request.
const (
	maxConfigFiles = 256
	maxNameLen     = 255
	// DefaultMainFile is the main file name when a request names none.
	DefaultMainFile = "keepalived.conf"
)

// requestError is a client mistake detected before the backend is called.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// errNoFiles: a configuration request without any file. It is an empty
// configuration (422, refused unless ?allow_empty=true).
var errNoFiles = &requestError{status: http.StatusUnprocessableEntity, code: "empty_config", msg: EmptyConfigMessage}

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err == nil:
		return badRequest("request body: more than one JSON value")
	default:
		if e := decodeError(err); isTooLarge(e) {
			return e
		}
		return badRequest("request body: trailing data after the JSON value")
	}
}

func decodeError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large",
			msg: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	}
	if errors.Is(err, io.EOF) {
		return badRequest("request body: empty")
	}
	return badRequest("request body: %v", err)
}

func isTooLarge(err error) bool {
	var re *requestError
	return errors.As(err, &re) && re.status == http.StatusRequestEntityTooLarge
}

// checkName validates an identifier taken from a request: non-empty,
// bounded, valid UTF-8, no white space or control characters.
func checkName(field, v string) error {
	if v == "" {
		return badRequest("%s: required", field)
	}
	if len(v) > maxNameLen {
		return badRequest("%s: longer than %d bytes", field, maxNameLen)
	}
	if !utf8.ValidString(v) {
		return badRequest("%s: not valid UTF-8", field)
	}
	for _, c := range v {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return badRequest("%s: contains white space or control characters", field)
		}
	}
	return nil
}

func (q *DrainRequest) validate() error {
	if err := checkName("vs", q.VS); err != nil {
		return err
	}
	return checkName("rs", q.RS)
}

func (q *MaintenanceRequest) validate() error {
	if err := checkName("node", q.Node); err != nil {
		return err
	}
	if q.On == nil {
		return badRequest("on: required (true or false)")
	}
	return nil
}

func (q *TransferRequest) validate() error {
	if err := checkName("instance", q.Instance); err != nil {
		return err
	}
	if q.Node == "" {
		return nil // clear
	}
	return checkName("node", q.Node)
}

func (q *RaftServerRequest) validate() error {
	if err := checkName("name", q.Name); err != nil {
		return err
	}
	if err := checkName("addr", q.Addr); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(q.Addr)
	if err != nil || host == "" {
		return badRequest("addr: want host:port, got %q", q.Addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return badRequest("addr: bad port %q", port)
	}
	return nil
}

func (q *SnapshotRequest) validate() error { return nil }

func (q *ConfigRequest) validate() error {
	if q.Main == "" {
		q.Main = DefaultMainFile
	}
	if len(q.Files) == 0 {
		return errNoFiles
	}
	if len(q.Files) > maxConfigFiles {
		return badRequest("files: more than %d files", maxConfigFiles)
	}
	if err := checkFileName(q.Main); err != nil {
		return badRequest("main: %v", err)
	}
	if _, ok := q.Files[q.Main]; !ok {
		return badRequest("files: main file %q missing", q.Main)
	}
	for name, content := range q.Files {
		if err := checkFileName(name); err != nil {
			return badRequest("files: %v", err)
		}
		if !utf8.ValidString(content) {
			return badRequest("files: %s: not valid UTF-8", name)
		}
	}
	return nil
}

// checkFileName accepts relative slash-separated names without "." or ".."
// elements: includes resolve inside the submitted set, never on the server's
// file system.
func checkFileName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("file name longer than %d bytes", maxNameLen)
	}
	if !fs.ValidPath(name) || name == "." || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("bad file name %q (want a relative path without . or ..)", name)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("bad file name %q (control character)", name)
		}
	}
	return nil
}

type validator interface{ validate() error }

// decodeBody strictly decodes and validates one request body.
func decodeBody(r io.Reader, v validator) error {
	if err := decodeStrict(r, v); err != nil {
		return err
	}
	return v.validate()
}

// decodeOptional is decodeBody for endpoints whose body may be empty.
func decodeOptional(r io.Reader, v validator) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return v.validate()
	}
	return decodeBody(bytes.NewReader(data), v)
}

// decodeConfig reads a configuration body: JSON (ConfigRequest) or, with
// Content-Type text/plain, the main file itself.
func decodeConfig(r *http.Request) (ConfigRequest, error) {
	var q ConfigRequest
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	if ct == "text/plain" {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return q, decodeError(err)
		}
		q.Main = r.URL.Query().Get("main")
		if q.Main == "" {
			q.Main = DefaultMainFile
		}
		q.Files = map[string]string{q.Main: string(data)}
		return q, q.validate()
	}
	if ct != "" && ct != "application/json" {
		return q, &requestError{status: http.StatusUnsupportedMediaType, code: "bad_request",
			msg: fmt.Sprintf("content type %q: want application/json or text/plain", ct)}
	}
	err := decodeBody(r.Body, &q)
	return q, err
}

// parseIfMatch reads a compare-and-swap precondition: `"N"` (or W/"N", or a
// bare N) with N > 0; absent or `*` means unconditional (0).
func parseIfMatch(h string) (uint64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0, nil
	}
	v := strings.TrimPrefix(h, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, badRequest(`If-Match: want "VERSION" (a positive integer), got %q`, h)
	}
	return n, nil
}

// etag formats a config version as an entity tag.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(ErrorBody{Error: "encode response: " + err.Error(), Code: "internal"})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, status int, body ErrorBody) {
	writeJSON(w, status, body)
}
