//go:build !linux

package ipvs

import (
	"context"
	"fmt"
)

// IPVS is the DataPlane over the kernel's IPVS; it exists on Linux only.
type IPVS struct{}

// New fails: IPVS is a Linux kernel feature.
func New() (*IPVS, error) {
	return nil, fmt.Errorf("%w: ipvs: IPVS needs Linux", ErrUnavailable)
}

func (v *IPVS) Name() string                        { return "ipvs" }
func (v *IPVS) Version() string                     { return "" }
func (v *IPVS) Read(context.Context) (Table, error) { return Table{}, ErrUnavailable }
func (v *IPVS) Apply(context.Context, Plan) error   { return ErrUnavailable }
func (v *IPVS) Supports(Service) error              { return ErrUnavailable }
func (v *IPVS) Close() error                        { return nil }
func (v *IPVS) Stats(context.Context) (map[ServiceKey]ServiceStats, error) {
	return nil, ErrUnavailable
}
