package checks

// obsQueue holds observations not yet delivered. Several pending changes of
// the same real server are coalesced into the latest one, so a slow
// consumer costs at most one entry per real server and always ends up with
// the current verdict.
type obsQueue struct {
	items []Observation
	head  int
	at    map[string]int // real server -> absolute index in items
}

func (q *obsQueue) push(o Observation) {
	if q.at == nil {
		q.at = map[string]int{}
	}
	if i, ok := q.at[o.RealServer]; ok {
		q.items[i] = o
		return
	}
	q.at[o.RealServer] = len(q.items)
	q.items = append(q.items, o)
}

func (q *obsQueue) pop() (Observation, bool) {
	if q.head >= len(q.items) {
		return Observation{}, false
	}
	o := q.items[q.head]
	delete(q.at, o.RealServer)
	q.items[q.head] = Observation{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items = q.items[:n]
		for k := range q.at {
			q.at[k] -= q.head
		}
		q.head = 0
	}
	return o, true
}

func (s *Scheduler) emitLocked(o Observation) {
	s.pending.push(o)
	s.pokeEmitter()
}

func (s *Scheduler) pokeEmitter() {
	select {
	case s.obsWake <- struct{}{}:
	default:
	}
}

// emitter delivers pending observations in order; it closes the channel
// once the scheduler stopped and everything was delivered.
func (s *Scheduler) emitter() {
	for {
		s.mu.Lock()
		o, ok := s.pending.pop()
		stopped := s.stopped
		s.mu.Unlock()
		if ok {
			s.obs <- o
			continue
		}
		if stopped {
			close(s.obs)
			return
		}
		<-s.obsWake
	}
}
