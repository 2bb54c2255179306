package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors that backends return (wrapped or as the typed errors
// below); the API maps them to HTTP statuses.
var (
	// ErrConflict: a compare-and-swap precondition failed (HTTP 412).
	ErrConflict = errors.New("version conflict")
	// ErrNotFound: the named object does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request is well-formed but its content is invalid,
	// e.g. a configuration that does not validate (HTTP 422). Malformed
	// request bodies are rejected by the API itself with 400.
	ErrInvalid = errors.New("invalid")
	// ErrNoLeader: a write could not reach a raft leader (HTTP 503).
	ErrNoLeader = errors.New("no raft leader")
	// ErrEmptyConfig: a configuration with no vrrp_instance and no
	// virtual_server for any node was refused because the request did
	// not say ?allow_empty=true (HTTP 422, code empty_config). It is an
	// ErrInvalid too.
	ErrEmptyConfig = errors.New("empty configuration")
)

// EmptyConfigMessage is the operator's explanation of ErrEmptyConfig.
const EmptyConfigMessage = "the new configuration has no vrrp_instance and no virtual_server: " +
	"it would remove every VIP and virtual service on all nodes; repeat with ?allow_empty=true to do that"

// EmptyConfigError is the refusal of an empty candidate.
func EmptyConfigError() *InvalidError {
	return &InvalidError{Msg: EmptyConfigMessage, Code: "empty_config"}
}

// InvalidError carries the details of an ErrInvalid, e.g. every file:line
// problem of a rejected configuration. errors.Is(err, ErrInvalid) holds.
type InvalidError struct {
	Msg     string
	Details []ConfigError
	// Code is the ErrorBody code ("invalid" if empty; "empty_config" for
	// ErrEmptyConfig).
	Code string
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else {
		b.WriteString("invalid")
	}
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true (and ErrEmptyConfig for an
// empty configuration's refusal).
func (e *InvalidError) Is(target error) bool {
	return target == ErrInvalid || (target == ErrEmptyConfig && e.Code == "empty_config")
}

// OperatorError is a backend error phrased for the operator: Msg is the
// whole "error" of the answer (one sentence, no chain of internal prefixes)
// and errors.Is matches Kind (ErrNotFound, ErrNoLeader, ...).
type OperatorError struct {
	Kind error
	Msg  string
}

func (e *OperatorError) Error() string { return e.Msg }

// Unwrap returns the kind, so errors.Is(err, ErrNotFound) holds.
func (e *OperatorError) Unwrap() error { return e.Kind }

// Errorf returns an *OperatorError of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &OperatorError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ConflictError is an ErrConflict that knows the running version.
type ConflictError struct {
	Current uint64
}

func (e *ConflictError) Error() string {
	return "the configuration changed meanwhile: the group runs version " + strconv.FormatUint(e.Current, 10) +
		", not the one this write expected"
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error   string        `json:"error"`
	Code    string        `json:"code"` // unauthorized, forbidden, bad_request, not_found, method_not_allowed, conflict, invalid, empty_config, invalid_snapshot, no_leader, too_large, unavailable, not_implemented, internal
	Details []ConfigError `json:"details,omitempty"`
	Current uint64        `json:"current_version,omitempty"` // with code conflict
}

// statusOf maps a backend error to an HTTP status and error body.
func statusOf(err error) (int, ErrorBody) {
	body := ErrorBody{Error: err.Error()}
	var inv *InvalidError
	var conf *ConflictError
	switch {
	case errors.As(err, &inv):
		body.Code, body.Details = "invalid", inv.Details
		if inv.Code != "" {
			body.Code = inv.Code
		}
		return http.StatusUnprocessableEntity, body
	case errors.Is(err, ErrInvalid):
		body.Code = "invalid"
		return http.StatusUnprocessableEntity, body
	case errors.As(err, &conf):
		body.Code, body.Current = "conflict", conf.Current
		return http.StatusPreconditionFailed, body
	case errors.Is(err, ErrConflict):
		body.Code = "conflict"
		return http.StatusPreconditionFailed, body
	case errors.Is(err, ErrNotFound):
		body.Code = "not_found"
		return http.StatusNotFound, body
	case errors.Is(err, ErrNoLeader):
		body.Code = "no_leader"
		return http.StatusServiceUnavailable, body
	}
	body.Code = "internal"
	return http.StatusInternalServerError, body
}

func itoa(n int) string { return strconv.Itoa(n) }
