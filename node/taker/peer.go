package taker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

// peer is one maker connection, kept for the whole swap.
type peer struct {
	addr      string
	bondValue float64
	offer     *protocol.Offer
	point     *btcec.PublicKey
	// bondless: a book candidate whose offer carries no bond, backed by
	// an integrity fee the book verified on our node instead.
	bondless bool

	mu   sync.Mutex
	conn *protocol.Conn
}

// counters aggregates traffic over every connection a swap opened.
type counters struct {
	mu          sync.Mutex
	roundTrips  int
	connections int
	closed      protocol.Stats // of connections already replaced
	conns       []*protocol.Conn
}

func (c *counters) addConn(pc *protocol.Conn) {
	c.mu.Lock()
	c.connections++
	c.roundTrips++ // the handshake
	c.conns = append(c.conns, pc)
	c.mu.Unlock()
}

func (c *counters) rt() {
	c.mu.Lock()
	c.roundTrips++
	c.mu.Unlock()
}

func (c *counters) stats() protocol.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s protocol.Stats
	for _, pc := range c.conns {
		x := pc.Stats()
		s.BytesSent += x.BytesSent
		s.BytesReceived += x.BytesReceived
		s.MsgsSent += x.MsgsSent
		s.MsgsReceived += x.MsgsReceived
	}
	return s
}

// dial opens (or re-opens) the connection and handshakes, sending
// pipelined right behind our Hello (see protocol.Conn.HandshakeWith).
func (t *Taker) dial(ctx context.Context, p *peer, cnt *counters, pipelined ...protocol.Message) error {
	c, err := protocol.DialPeer(ctx, t.cfg.Transport, p.addr, t.cfg.ConnConfig,
		protocol.NewHello(t.cfg.Network, t.cfg.UserAgent), "maker", pipelined...)
	if err != nil {
		return err
	}
	cnt.addConn(c)
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn = c
	p.mu.Unlock()
	return nil
}

func (p *peer) c() *protocol.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

func (p *peer) close() {
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
	}
	p.mu.Unlock()
}

// request sends msg and waits for a reply of the wanted type. A broken
// connection is re-dialed once and the request re-sent (maker handlers are
// idempotent per swap id). A peer Error is returned as *protocol.PeerError.
func request[T protocol.Message](ctx context.Context, t *Taker, p *peer, cnt *counters, msg protocol.Message) (T, error) {
	var zero T
	reply, err := requestAny(ctx, t, p, cnt, msg)
	if err != nil {
		return zero, err
	}
	if r, ok := reply.(T); ok {
		return r, nil
	}
	return zero, fmt.Errorf("%w: got %s", swap.ErrWrongPhase, reply.Type())
}

// requestAny is request for a request with more than one valid reply.
func requestAny(ctx context.Context, t *Taker, p *peer, cnt *counters, msg protocol.Message) (protocol.Message, error) {
	for attempt := 0; attempt < 2; attempt++ {
		c := p.c()
		if c == nil || c.Err() != nil {
			// A connection that broke in the middle of the swap may be a
			// maker restarting: be patient with it (it comes back with
			// the swap on disk; during setup that beats marking it bad
			// and hoping for a spare).
			if err := t.reconnect(ctx, p, cnt, attempt > 0 || c != nil); err != nil {
				return nil, err
			}
			c = p.c()
		}
		sctx, cancel := context.WithTimeout(ctx, t.cfg.StepTimeout)
		err := c.Send(sctx, msg)
		var reply protocol.Message
		if err == nil {
			reply, err = c.Receive(sctx)
		}
		cancel()
		if err == nil {
			cnt.rt()
			return reply, nil
		}
		var pe *protocol.PeerError
		if errors.As(err, &pe) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		t.log.Info("maker connection lost; re-dialing", "err", err)
	}
	return nil, errors.New("maker connection lost twice")
}

// reconnectDelay: the pause between dials to a maker whose connection
// broke mid-swap (see Config.ReconnectWindow).
const reconnectDelay = 3 * time.Second

// reconnect dials p again. When patient, failed dials are retried every
// reconnectDelay for up to ReconnectWindow: a maker that restarted comes
// back with its swap on disk and answers the repeated request.
func (t *Taker) reconnect(ctx context.Context, p *peer, cnt *counters, patient bool) error {
	err := t.dial(ctx, p, cnt)
	if err == nil || !patient {
		return err
	}
	t.log.Info("maker unreachable; retrying", "for", t.cfg.ReconnectWindow, "every", reconnectDelay)
	deadline := time.Now().Add(t.cfg.ReconnectWindow)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(reconnectDelay):
		}
		if err = t.dial(ctx, p, cnt); err == nil {
			t.log.Info("maker reachable again")
			return nil
		}
	}
	return err
}

// dialRetryDelay: the pause before the one retry of a failed dial to a
// candidate: tor has closed the failed circuit by then and refetches the
// maker's descriptor within the retried stream; 2 s costs little next to
// a Tor round trip and keeps a flapping address from being hammered.
const dialRetryDelay = 2 * time.Second

// connect dials a candidate, fetches its offer and verifies its bond on
// our own node (the certificate must bind the address we dialed).
func (t *Taker) connect(ctx context.Context, c Candidate, cnt *counters) (*peer, error) {
	p := &peer{addr: c.Addr, bondless: bondless(c)}
	// The offer request rides behind our Hello: hello and offer together
	// cost one round trip.
	reply, err := t.dialPipelined(ctx, p, cnt, &protocol.OfferRequest{})
	if err != nil {
		p.close()
		return nil, err
	}
	offer, ok := reply.(*protocol.Offer)
	if !ok {
		p.close()
		return nil, fmt.Errorf("%w: got %s, want an offer", swap.ErrWrongPhase, reply.Type())
	}
	if err := t.adopt(ctx, p, offer); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// known makes a peer of a candidate whose offer we hold already (the
// pool's offer book), without dialing it: its bond is verified now, and
// its connection opens when its hop is set up (dialPipelined).
func (t *Taker) known(ctx context.Context, c Candidate) (*peer, error) {
	p := &peer{addr: c.Addr, bondless: bondless(c)}
	if err := t.adopt(ctx, p, c.Offer); err != nil {
		return nil, err
	}
	return p, nil
}

// adopt verifies offer's bond on our own node — the certificate must bind
// the maker's address — and makes it p's offer. One path for every offer,
// however it reached us (a directory candidate's connection, the book, a
// maker answering a setup with its new terms): a local chain query, no
// round trip, so checking a book offer again costs the swap nothing
// measurable next to Tor, and the taker's own bond policy applies.
//
// An offer without a bond is taken only from a maker the book listed as
// bondless: its integrity fee was verified by the book's validator on our
// node, and it backs the maker's pool identity, not this message.
func (t *Taker) adopt(ctx context.Context, p *peer, offer *protocol.Offer) error {
	if offer == nil || offer.TweakablePoint == nil {
		return fmt.Errorf("%w: offer without a tweakable point", swap.ErrWrongPhase)
	}
	if !offer.HasBond() {
		if !p.bondless {
			return errors.New("maker bond refused: its offer carries none")
		}
		p.offer, p.point, p.bondValue = offer, offer.TweakablePoint, 0
		return nil
	}
	cert, sig := directory.CertFromProof(&offer.Fidelity)
	v, err := wallet.VerifyBondOnChain(ctx, t.cfg.Backend, cert, sig, p.addr, t.cfg.BondPolicy)
	if err != nil {
		return fmt.Errorf("maker bond refused: %w", err)
	}
	p.offer, p.point, p.bondValue = offer, offer.TweakablePoint, v
	return nil
}

// bondless: c is a maker without a bond, listed by the book for the
// integrity fee it paid.
func bondless(c Candidate) bool { return c.Proof == nil && c.IntegrityFee > 0 }

// errUnreached marks a failure to open the first connection to a maker:
// it was never reached, so nothing it did is to blame.
var errUnreached = errors.New("maker unreachable")

// dialPipelined opens p's first connection with msg riding behind our
// Hello and returns the reply to msg: hello and request together cost one
// round trip. A failed dial is retried once after dialRetryDelay (a maker
// that restarted leaves our tor with a stale circuit to its old instance,
// which fails the first stream; tor drops it and fetches the new
// descriptor); failing again, the error wraps errUnreached. If the
// connection breaks before the reply, the request is re-sent the way
// request does (maker handlers are idempotent per swap id).
func (t *Taker) dialPipelined(ctx context.Context, p *peer, cnt *counters, msg protocol.Message) (protocol.Message, error) {
	if err := t.dial(ctx, p, cnt, msg); err != nil {
		// The error names the onion address: debug level only.
		t.log.Info("dialing a candidate maker failed; retrying once", "retry_in", dialRetryDelay)
		t.log.Debug("candidate dial failure", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(dialRetryDelay):
		}
		if err := t.dial(ctx, p, cnt, msg); err != nil {
			return nil, fmt.Errorf("%w: %w", errUnreached, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, t.cfg.StepTimeout)
	reply, err := p.c().Receive(rctx)
	cancel()
	if err == nil {
		return reply, nil
	}
	var pe *protocol.PeerError
	if errors.As(err, &pe) || ctx.Err() != nil {
		return nil, err
	}
	t.log.Info("maker connection lost before its reply; re-dialing", "msg", msg.Type().String(), "err", err)
	return requestAny(ctx, t, p, cnt, msg)
}
