package cluster

import (
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what changed.
type EventKind int

const (
	// EventLeaderChange: the known leader changed (Leader, IsLeader).
	EventLeaderChange EventKind = iota + 1
	// EventMemberJoin: a member became alive (Member).
	EventMemberJoin
	// EventMemberLeave: a member left gracefully.
	EventMemberLeave
	// EventMemberFailed: gossip declared a member dead.
	EventMemberFailed
	// EventMemberUpdate: a member's metadata changed.
	EventMemberUpdate
	// EventDegraded: degraded mode entered or left (Degraded).
	EventDegraded
	// EventQuorum: quorum contact lost or regained (QuorumLost).
	EventQuorum
)

func (k EventKind) String() string {
	switch k {
	case EventLeaderChange:
		return "leader-change"
	case EventMemberJoin:
		return "member-join"
	case EventMemberLeave:
		return "member-leave"
	case EventMemberFailed:
		return "member-failed"
	case EventMemberUpdate:
		return "member-update"
	case EventDegraded:
		return "degraded"
	case EventQuorum:
		return "quorum"
	}
	return "unknown"
}

// Event is a change notification. Events are hints: a slow subscriber may
// miss some (see Subscribe), so react by reading the current state.
type Event struct {
	Kind        EventKind
	Time        time.Time
	Leader      string      // EventLeaderChange: new leader, "" for none
	IsLeader    bool        // EventLeaderChange: this node leads now
	Member      string      // member events
	MemberState MemberState // member events
	Degraded    bool        // EventDegraded
	QuorumLost  bool        // EventQuorum
}

// Subscribe returns a channel of events with room for buf of them, and a
// function that ends the subscription. Delivery never blocks the node: when
// the channel is full the event is dropped (counted in Dropped). The channel
// is closed by cancel or at Shutdown.
func (n *Node) Subscribe(buf int) (<-chan Event, func()) {
	return n.subs.add(max(buf, 1))
}

// DroppedEvents counts events dropped because a subscriber was full.
func (n *Node) DroppedEvents() uint64 { return n.subs.dropped.Load() }

type subscribers struct {
	mu      sync.Mutex
	next    int
	chans   map[int]chan Event
	closed  bool
	dropped atomic.Uint64
}

func (s *subscribers) add(buf int) (<-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan Event, buf)
	if s.closed {
		close(ch)
		return ch, func() {}
	}
	if s.chans == nil {
		s.chans = map[int]chan Event{}
	}
	id := s.next
	s.next++
	s.chans[id] = ch
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.chans[id]; ok {
			delete(s.chans, id)
			close(c)
		}
	}
}

func (s *subscribers) publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chans {
		select {
		case ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for id, ch := range s.chans {
		close(ch)
		delete(s.chans, id)
	}
}
