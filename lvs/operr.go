package lvs

import (
	"errors"
	"fmt"
)

// Op names one kernel operation of a plan.
type Op string

// Operations of a plan.
const (
	OpAddService    Op = "add-service"
	OpUpdateService Op = "update-service"
	OpDeleteService Op = "delete-service"
	OpAddDest       Op = "add-dest"
	OpUpdateDest    Op = "update-dest"
	OpDeleteDest    Op = "delete-dest"
	OpTimeouts      Op = "timeouts"
)

// OpError is the failure of one operation of a plan. DataPlane.Apply
// implementations keep going after a failed operation and return every
// failure joined (errors.Join), so the reconciler can mark the services
// concerned and retry only what failed.
type OpError struct {
	Op      Op
	Service ServiceKey
	Dest    *DestKey // destination operations only
	Err     error
}

func (e *OpError) Error() string {
	if e.Dest != nil {
		return fmt.Sprintf("lvs: %s %s -> %s: %v", e.Op, e.Service, *e.Dest, e.Err)
	}
	if e.Op == OpTimeouts {
		return fmt.Sprintf("lvs: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("lvs: %s %s: %v", e.Op, e.Service, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// OpErrors returns the OpErrors inside err (joined or wrapped).
func OpErrors(err error) []*OpError {
	var out []*OpError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if oe, ok := e.(*OpError); ok {
			out = append(out, oe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}
