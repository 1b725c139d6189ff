package pool

import "github.com/onionswap/onionswap/protocol"

// rollingSet remembers up to about 2×half short ids in two generations:
// when the current one is full it becomes the old one and the oldest
// generation is forgotten (Core's rolling bloom filter, exact). Memory is
// bounded whatever a peer announces. Not safe for concurrent use.
type rollingSet struct {
	half     int
	cur, old map[protocol.ShortID]uint8
}

func newRollingSet(capacity int) *rollingSet {
	h := max(capacity/2, 1)
	return &rollingSet{half: h, cur: make(map[protocol.ShortID]uint8)}
}

func (s *rollingSet) add(id protocol.ShortID) { s.put(id, 0) }

func (s *rollingSet) put(id protocol.ShortID, v uint8) {
	if _, ok := s.cur[id]; !ok && len(s.cur) >= s.half {
		s.old, s.cur = s.cur, make(map[protocol.ShortID]uint8, s.half/4)
	}
	s.cur[id] = v
}

func (s *rollingSet) has(id protocol.ShortID) (uint8, bool) {
	if v, ok := s.cur[id]; ok {
		return v, true
	}
	v, ok := s.old[id]
	return v, ok
}

func (s *rollingSet) len() int { return len(s.cur) + len(s.old) }
