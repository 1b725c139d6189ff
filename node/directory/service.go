package directory

import (
	"context"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

var (
	_ service.Inbound    = (*Server)(nil)
	_ service.Activity   = (*Server)(nil)
	_ service.Limited    = (*Server)(nil)
	_ service.Controlled = (*Server)(nil)
)

// Name implements service.Service.
func (s *Server) Name() string { return "directory" }

// Feature implements service.Inbound.
func (s *Server) Feature() protocol.FeatureBit { return protocol.FeatureDirectory }

// Owns implements service.Inbound: the directory range.
func (s *Server) Owns(t protocol.MessageType) bool {
	return t >= protocol.RangeDirectoryFirst && t <= protocol.RangeDirectoryLast
}

// Limits implements service.Limited: MaxConns sessions, each given
// ConnLifetime and an IdleTimeout.
func (s *Server) Limits() service.Limits {
	return service.Limits{MaxConns: s.cfg.MaxConns, Lifetime: s.cfg.ConnLifetime, IdleTimeout: s.cfg.IdleTimeout}
}

// Busy implements service.Activity: a session whose registration is being
// verified is not evicted for a newcomer.
func (s *Server) Busy(pc *protocol.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.working[pc]
}

// Readiness implements service.Service: ready once the list is open.
func (s *Server) Readiness(context.Context) service.Readiness {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return service.NotReady("directory stopped")
	case !s.started:
		return service.NotReady("directory database not open yet")
	}
	return service.ReadyNow
}

// RegisterControl implements service.Controlled: the directory's own list.
func (s *Server) RegisterControl(r *control.Router) {
	control.Get(r, "/v1/directory/entries", func(ctx context.Context, _ control.Request) ([]control.DirectoryEntry, error) {
		es, err := s.Entries(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]control.DirectoryEntry, 0, len(es))
		for _, e := range es {
			out = append(out, control.DirectoryEntry{
				Onion:      e.Addr,
				BondOutPt:  e.Proof.BondOutPoint.String(),
				BondAmount: e.Proof.BondValue,
				BondValue:  e.BondValue,
				Registered: e.LastSeen,
				Expires:    e.LastSeen.Add(s.cfg.EntryTTL),
			})
		}
		return out, nil
	})
}
