package market

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// PoolPublisher is what the publisher needs of the pool.
type PoolPublisher interface {
	Identity() [protocol.XOnlyKeySize]byte
	Publish(ctx context.Context, topic string, item protocol.PoolItem, body []byte, ttl time.Duration) (protocol.PoolID, error)
	Remove(ctx context.Context, topic string, item protocol.PoolItem) (protocol.PoolID, error)
}

// OfferSource is the maker whose offer is published: its current terms
// and bond certificate (an error while it has no confirmed bond), and a
// signature by the key of its bond.
type OfferSource interface {
	Offer(ctx context.Context) (*protocol.Offer, error)
	SignWithBondKey(ctx context.Context, bond wire.OutPoint, digest [32]byte) ([]byte, error)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Pool  PoolPublisher
	Maker OfferSource
	// CheckInterval, Refresh and MinRepublish default to CheckInterval,
	// RefreshInterval and MinRepublishInterval; Now to time.Now (tests).
	CheckInterval time.Duration
	Refresh       time.Duration
	MinRepublish  time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Publisher keeps a maker's offer in the pool: published once the maker
// has a bond and liquidity, refreshed every RefreshInterval, republished
// when its terms change (at most every MinRepublishInterval), withdrawn
// by a signed removal when it cannot be honoured any more or the node
// stops.
type Publisher struct {
	cfg PublisherConfig
	log *slog.Logger

	// op serializes a tick with Withdraw, so that a tick that began
	// before the operator's withdrawal cannot republish after it.
	op sync.Mutex

	mu        sync.Mutex
	published bool
	terms     []byte    // the published terms, certificate left out
	last      time.Time // last publish
	since     time.Time // first publish of the current offer
	withdrawn string    // why the offer is not up (when it is not)
	paused    bool      // the operator withdrew the offer (market withdraw)
	id        protocol.PoolID
	wake      chan struct{}

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}
}

// NewPublisher returns a publisher; Start runs it.
func NewPublisher(cfg PublisherConfig) *Publisher {
	cfg.CheckInterval = cmp.Or(cfg.CheckInterval, CheckInterval)
	cfg.Refresh = cmp.Or(cfg.Refresh, RefreshInterval)
	cfg.MinRepublish = cmp.Or(cfg.MinRepublish, MinRepublishInterval)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "market")
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, withdrawn: "not published yet", wake: make(chan struct{}, 1),
		done: make(chan struct{})}
}

// Start runs the publishing loop until Stop. Idempotent.
func (p *Publisher) Start(ctx context.Context) error {
	p.startOnce.Do(func() {
		ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go p.loop(ctx)
	})
	return nil
}

// Stop withdraws the offer (best effort, 5 s) and ends the loop.
// Idempotent.
func (p *Publisher) Stop() {
	p.stopOnce.Do(func() {
		if p.cancel == nil {
			return
		}
		p.cancel()
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.withdraw(ctx, "the node is stopping")
	})
}

// Poke makes the publisher look at the terms now (a swap changed the
// liquidity); MinRepublishInterval still applies.
func (p *Publisher) Poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Publisher) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.CheckInterval)
	defer t.Stop()
	for {
		p.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wake:
		}
	}
}

// Withdraw removes the offer from the pool and keeps it out until
// Publish (`onionswap market withdraw`).
func (p *Publisher) Withdraw(ctx context.Context) error {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	return p.withdraw(ctx, "withdrawn by the operator")
}

// Publish undoes Withdraw: the offer goes out at once if the maker can
// honour it (`onionswap market publish`).
func (p *Publisher) Publish() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.Poke()
}

// tick publishes, refreshes or withdraws as the maker's terms say.
func (p *Publisher) tick(ctx context.Context) {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		return
	}
	off, err := p.cfg.Maker.Offer(ctx)
	if ctx.Err() != nil {
		return
	}
	switch {
	case err != nil:
		_ = p.withdraw(ctx, "no offer: "+err.Error())
		return
	case off.MaxSize < off.MinSize:
		_ = p.withdraw(ctx, "no liquidity above the minimum size")
		return
	}
	terms, err := termsOf(off)
	if err != nil {
		p.log.Warn("offer not encodable", "err", err)
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	since := now.Sub(p.last)
	due := !p.published || since >= p.cfg.Refresh || (!bytes.Equal(terms, p.terms) && since >= p.cfg.MinRepublish)
	p.mu.Unlock()
	if !due {
		return
	}
	origin := p.cfg.Pool.Identity()
	d := OriginDigest(origin, off.Fidelity.CertExpiry)
	sig, err := p.cfg.Maker.SignWithBondKey(ctx, off.Fidelity.BondOutPoint, d)
	if err != nil {
		p.log.Warn("cannot sign the offer with the bond key", "err", err)
		return
	}
	body, err := protocol.EncodeMarketOffer(&protocol.MarketOffer{ProofKind: protocol.OfferProofBond, Offer: *off, OriginSig: sig})
	if err != nil {
		p.log.Warn("offer not encodable", "err", err)
		return
	}
	id, err := p.cfg.Pool.Publish(ctx, pool.TopicOffer, OfferItem, body, OfferTTL)
	if err != nil {
		// Our own pool refused it (say, the bond is not confirmed on our
		// node yet): try again at the next tick.
		p.log.Debug("offer not published", "err", err)
		p.mu.Lock()
		p.withdrawn = "not published: " + err.Error()
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	first := !p.published
	if first {
		p.since = now
	}
	p.published, p.terms, p.last, p.id, p.withdrawn = true, terms, now, id, ""
	p.mu.Unlock()
	if first {
		p.log.Info("offer published", "min_size", off.MinSize, "max_size", off.MaxSize, "bond_amount", off.Fidelity.BondValue)
	} else {
		p.log.Debug("offer refreshed", "max_size", off.MaxSize)
	}
}

// withdraw removes a published offer and records why it is down.
func (p *Publisher) withdraw(ctx context.Context, why string) error {
	p.mu.Lock()
	was := p.published
	p.withdrawn = why
	p.mu.Unlock()
	if !was {
		return nil
	}
	if _, err := p.cfg.Pool.Remove(ctx, pool.TopicOffer, OfferItem); err != nil {
		p.log.Warn("offer removal not published", "err", err)
		return err
	}
	p.mu.Lock()
	p.published, p.terms = false, nil
	p.mu.Unlock()
	p.log.Info("offer withdrawn", "why", why)
	return nil
}

// termsOf is the offer without its certificate's expiry and signature,
// which change with every block: what a change of terms is judged by.
func termsOf(o *protocol.Offer) ([]byte, error) {
	c := *o
	c.Fidelity.CertExpiry, c.Fidelity.CertSig = 0, placeholderSig
	w := protocol.NewWriter("Offer", nil)
	if err := c.Encode(w); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// placeholderSig stands in for the certificate's signature in termsOf
// (the encoder wants a strict-DER signature: r = s = 1).
var placeholderSig = []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}

// PublishStatus is what `onionswap market status` shows a maker.
type PublishStatus struct {
	Published bool      `json:"published"`
	Since     time.Time `json:"since,omitempty"`
	Refreshed time.Time `json:"refreshed,omitempty"`
	ID        string    `json:"id,omitempty"`
	// Why the offer is not up, when it is not.
	Why string `json:"why,omitempty"`
}

// Status reports the offer's state.
func (p *Publisher) Status() PublishStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.published {
		return PublishStatus{Why: p.withdrawn}
	}
	return PublishStatus{Published: true, Since: p.since, Refreshed: p.last, ID: p.id.String()}
}
