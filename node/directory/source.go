package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
)

// Source defaults.
const (
	// DefaultFetchTimeout bounds listing one directory: a Tor dial
	// (tor.DefaultDialTimeout 90 s) + handshake + a ≤ 380 kB reply
	// (~24 s at protocol.DefaultMinTransferRate) + margin.
	DefaultFetchTimeout = 3 * time.Minute
	// DefaultVerifyParallel: bond verifications in flight. Each is ~6
	// sequential RPCs to our own node; 4 keeps a Raspberry Pi's node
	// responsive while checking 1000 bonds in seconds.
	DefaultVerifyParallel = 4
)

// ErrNoDirectory: no configured directory answered.
var ErrNoDirectory = errors.New("no directory answered")

// Candidate is a maker whose bond the taker verified itself.
type Candidate struct {
	Addr      string
	Proof     protocol.FidelityProof
	BondValue float64   // script.BondValue by our node's chain
	LastSeen  time.Time // newest LastSeen any directory reported
	// Directories that listed this proof.
	Directories int
}

// SourceConfig configures a Source.
type SourceConfig struct {
	Dialer      Dialer
	Directories []string
	Client      ClientConfig
	// Backend and Policy: the taker's node and acceptance policy
	// (wallet.VerifyBondOnChain), unless Verify is set (tests).
	Backend wallet.BondChain
	Policy  wallet.BondPolicy
	Verify  VerifyFunc

	FetchTimeout   time.Duration
	VerifyParallel int
	// Logger; nil = slog.Default().With("subsystem", "directory").
	Logger *slog.Logger
}

// Source gives a taker makers to choose from.
type Source struct {
	cfg SourceConfig
	log *slog.Logger
}

// NewSource checks cfg.
func NewSource(cfg SourceConfig) (*Source, error) {
	switch {
	case cfg.Dialer == nil:
		return nil, errors.New("source: no Dialer")
	case len(cfg.Directories) == 0:
		return nil, errors.New("source: no Directories")
	case cfg.Client.Network == 0:
		return nil, errors.New("source: no Client.Network")
	}
	if cfg.Verify == nil {
		if cfg.Backend == nil {
			return nil, errors.New("source: no Backend (or Verify)")
		}
		cfg.Verify = ChainVerifier(cfg.Backend, cfg.Policy)
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.VerifyParallel <= 0 {
		cfg.VerifyParallel = DefaultVerifyParallel
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "directory")
	}
	if cfg.Client.Logger == nil {
		cfg.Client.Logger = cfg.Logger
	}
	return &Source{cfg: cfg, log: cfg.Logger}, nil
}

// proofKey identifies one distinct proof: the same bond may be listed
// with different certificates (an old address on a stale directory).
type proofKey struct {
	op   wire.OutPoint
	addr string
	exp  uint32
	sig  string
}

type listed struct {
	entry protocol.DirEntry
	dirs  int
}

// Candidates lists every directory (in parallel), merges the entries by
// bond, verifies each distinct proof on our own node and returns one
// candidate per bond and per address, most valuable first. A bond that
// fails verification is dropped (logged at Debug with why). It fails
// only when no directory answered (ErrNoDirectory, joined with each
// directory's error) or a chain error stops verification.
func (s *Source) Candidates(ctx context.Context) ([]Candidate, error) {
	type result struct {
		entries []protocol.DirEntry
		err     error
	}
	results := make([]result, len(s.cfg.Directories))
	var wg sync.WaitGroup
	for i, d := range s.cfg.Directories {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
			defer cancel()
			results[i].entries, results[i].err = List(fctx, s.cfg.Dialer, d, s.cfg.Client)
			// One more try when the onion could not be reached: a
			// rendezvous that stalls fails one circuit, not the service
			// (tor builds new circuits for the next try), and the fetch
			// deadline leaves room for a second dial.
			if err := results[i].err; fctx.Err() == nil &&
				(errors.Is(err, tor.ErrDialTimeout) || errors.Is(err, tor.ErrOnionUnreachable)) {
				s.log.Info("directory unreachable; trying once more", "dir", i)
				results[i].entries, results[i].err = List(fctx, s.cfg.Dialer, d, s.cfg.Client)
			}
		}()
	}
	wg.Wait()

	proofs := map[proofKey]*listed{}
	var errs []error
	answered := 0
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("directory %d: %w", i, r.err))
			s.log.Info("directory list failed", "dir", i)
			s.log.Debug("directory list failed", "dir", i, "addr", s.cfg.Directories[i], "err", r.err)
			continue
		}
		answered++
		for _, e := range r.entries {
			p := &e.Proof
			k := proofKey{op: p.BondOutPoint, addr: e.Addr, exp: p.CertExpiry, sig: string(p.CertSig)}
			if l, ok := proofs[k]; ok {
				l.dirs++
				if e.LastSeen > l.entry.LastSeen {
					l.entry.LastSeen = e.LastSeen
				}
				continue
			}
			proofs[k] = &listed{entry: e, dirs: 1}
		}
	}
	if answered == 0 {
		return nil, errors.Join(append([]error{ErrNoDirectory}, errs...)...)
	}

	// Verify every distinct proof, VerifyParallel at a time.
	type verdict struct {
		l     *listed
		value float64
		err   error
	}
	all := make([]verdict, 0, len(proofs))
	for _, l := range proofs {
		all = append(all, verdict{l: l})
	}
	sem := make(chan struct{}, s.cfg.VerifyParallel)
	for i := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v := &all[i]
			e := &v.l.entry
			if e.Addr != e.Proof.Addr {
				v.err = fmt.Errorf("listed address differs from the certificate's")
				return
			}
			cert, sig := CertFromProof(&e.Proof)
			v.value, v.err = s.cfg.Verify(ctx, cert, sig, e.Addr)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Per bond keep the valid proof with the latest certificate (then the
	// freshest listing): a maker that moved leaves its old address on
	// stale directories.
	best := map[wire.OutPoint]*Candidate{}
	for _, v := range all {
		e := &v.l.entry
		op := e.Proof.BondOutPoint
		if v.err != nil {
			if _, ok := ReasonCode(v.err); !ok && e.Addr == e.Proof.Addr {
				// Not a verdict on the bond: our node failed us.
				return nil, fmt.Errorf("verify bond %v: %w", op, v.err)
			}
			s.log.Debug("maker dropped: bond failed verification", "bond", op, "addr", e.Addr, "err", v.err)
			continue
		}
		c := &Candidate{Addr: e.Addr, Proof: e.Proof, BondValue: v.value,
			LastSeen: time.Unix(int64(min(e.LastSeen, 1<<62)), 0), Directories: v.l.dirs}
		if cur, ok := best[op]; ok && !newer(c, cur) {
			s.log.Debug("older proof of a listed bond ignored", "bond", op, "addr", e.Addr)
			continue
		}
		best[op] = c
	}
	// One candidate per address: two bonds at one address would double a
	// maker's weight in value-weighted selection; keep its most valuable.
	byAddr := map[string]*Candidate{}
	for _, c := range best {
		if cur, ok := byAddr[c.Addr]; ok && cur.BondValue >= c.BondValue {
			s.log.Debug("second bond for one address ignored", "bond", c.Proof.BondOutPoint, "addr", c.Addr)
			continue
		}
		byAddr[c.Addr] = c
	}
	out := make([]Candidate, 0, len(byAddr))
	for _, c := range byAddr {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BondValue != out[j].BondValue {
			return out[i].BondValue > out[j].BondValue
		}
		return bytes.Compare(out[i].Proof.BondOutPoint.Hash[:], out[j].Proof.BondOutPoint.Hash[:]) < 0
	})
	s.log.Info("makers fetched", "directories", answered, "listed", len(proofs), "verified", len(out))
	return out, nil
}

func newer(a, b *Candidate) bool {
	if a.Proof.CertExpiry != b.Proof.CertExpiry {
		return a.Proof.CertExpiry > b.Proof.CertExpiry
	}
	return a.LastSeen.After(b.LastSeen)
}
