package cluster

import (
	"net"

	"github.com/hashicorp/memberlist"
)

// faultHook is the seam through which tests cut a node off from chosen
// peers (faults_test.go implements it): it refuses dials, tracks the
// connections this node dials so a cut can close them, and wraps the
// gossip transport to drop packets. It is nil in production, where none of
// it exists in the binary.
type faultHook interface {
	blocked(addr string) bool
	track(addr string, c net.Conn) net.Conn
	wrapGossip(nt *memberlist.NetTransport) memberlist.Transport
}
