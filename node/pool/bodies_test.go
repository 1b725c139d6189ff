package pool

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// TestEncodingsLeaveMemoryOncePersisted: with a database, an envelope's
// encoding stays in memory only until it is written; it is then served
// from pool.db (to peers and by Envelope), the byte accounting
// unchanged, and a restart loads nothing back into memory. Without a
// database the encoding stays. Either way Envelope returns it.
func TestEncodingsLeaveMemoryOncePersisted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		db       bool
		inMemory bool
	}{
		{"with pool.db", true, false},
		{"memory only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Network: protocol.Regtest}
			if tc.db {
				cfg.DBPath = filepath.Join(t.TempDir(), "pool.db")
			}
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { p.Stop() }()
			want := map[string][]byte{}
			for i := range 3 {
				if _, err := p.Publish(ctx, TopicOffer, NewItem(), bytes.Repeat([]byte{byte(i)}, 1500), 20*time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			p.mu.Lock()
			var ids []protocol.PoolID
			for _, e := range p.msgs {
				ids = append(ids, e.id)
			}
			p.mu.Unlock()
			for _, id := range ids {
				if want[id.String()], err = p.Envelope(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			bytesBefore := p.Stats().Bytes
			p.persist(ctx)
			check := func(when string, p *Pool) {
				t.Helper()
				p.mu.Lock()
				var es []*entry
				for _, e := range p.msgs {
					if (e.raw != nil) != tc.inMemory {
						t.Errorf("%s: encoding in memory %v, want %v", when, e.raw != nil, tc.inMemory)
					}
					es = append(es, e)
				}
				p.mu.Unlock()
				ms := p.Messages("")
				if len(ms) != len(want) || p.Stats().Bytes != bytesBefore {
					t.Fatalf("%s: %d messages, %d bytes; want %d, %d", when, len(ms), p.Stats().Bytes, len(want), bytesBefore)
				}
				for _, m := range ms {
					if m.Size != len(want[m.ID]) {
						t.Errorf("%s: message %s listed with size %d, want %d", when, m.ID, m.Size, len(want[m.ID]))
					}
				}
				for _, e := range es {
					p.mu.Lock()
					raw := e.raw
					p.mu.Unlock()
					got, err := p.rawOf(ctx, e.id, raw)
					if err != nil || !bytes.Equal(got, want[e.id.String()]) {
						t.Errorf("%s: served encoding of %s: %v", when, e.id, err)
					}
					if got, err := p.Envelope(ctx, e.id); err != nil || !bytes.Equal(got, want[e.id.String()]) {
						t.Errorf("%s: Envelope(%s): %v", when, e.id, err)
					}
				}
			}
			check("after the write", p)
			if !tc.db {
				return
			}
			p.Stop()
			if p, err = New(cfg); err != nil {
				t.Fatal(err)
			}
			check("after a restart", p)
			// An envelope dropped since it was looked up is gone, not
			// an error to log.
			if _, err := p.rawOf(ctx, protocol.PoolID{1}, nil); !errors.Is(err, errGone) {
				t.Errorf("unknown id: %v, want errGone", err)
			}
			if _, err := p.Envelope(ctx, protocol.PoolID{1}); !errors.Is(err, errGone) {
				t.Errorf("Envelope of an unknown id: %v, want errGone", err)
			}
		})
	}
}

// TestPersistEarlyOnBacklog: once persistBatchBytes of envelopes wait to
// be written, the persister is woken without waiting for its tick.
func TestPersistEarlyOnBacklog(t *testing.T) {
	ctx := context.Background()
	p, err := New(Config{Network: protocol.Regtest, DBPath: filepath.Join(t.TempDir(), "pool.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	body := make([]byte, DefaultOfferMaxBody)
	for p.Stats().Bytes < persistBatchBytes {
		if len(p.persistNow) != 0 {
			t.Fatalf("persister woken with %d bytes waiting", p.Stats().Bytes)
		}
		if _, err := p.Publish(ctx, TopicOffer, NewItem(), body, 20*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.persistNow) != 1 {
		t.Fatalf("persister not woken with %d bytes waiting", p.Stats().Bytes)
	}
	p.persist(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirtyBytes != 0 {
		t.Fatalf("%d bytes still counted as waiting after the write", p.dirtyBytes)
	}
}
