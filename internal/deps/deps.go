package deps
import (
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/cloudflare/ipvs"
	_ "github.com/vishvananda/netlink"
	_ "golang.org/x/net/ipv4"
	_ "golang.org/x/net/ipv6"
	_ "golang.org/x/sys/unix"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/google/nftables"
	_ "github.com/miekg/dns"
	_ "github.com/anishathalye/porcupine"
)
