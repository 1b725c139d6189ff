package market

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
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

// CoinLocker locks the coins that back the offer while it is up (the
// maker's wallet): a send may not spend them, the offer's swaps may.
type CoinLocker interface {
	LockOfferCoins(ctx context.Context) (int, btcutil.Amount, error)
	UnlockOfferCoins(ctx context.Context) error
	// OfferLockBroken: locked coins spent by a transaction the wallet did
	// not build (a restored copy of it).
	OfferLockBroken(ctx context.Context) ([]wire.OutPoint, error)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Pool  PoolPublisher
	Maker OfferSource
	// Integrity: the offer is backed by an integrity fee instead of the
	// maker's bond (nil: by the bond).
	Integrity *IntegrityConfig
	// Locks: nil locks nothing (tests of the pool side).
	Locks CoinLocker
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
	// locksMaybe: coins may be locked for an offer (a run before this one
	// may have left locks behind), so a withdrawal releases them.
	locksMaybe bool
	locked     int
	lockedSat  btcutil.Amount
	id         protocol.PoolID
	wake       chan struct{}
	// lastPay: the newest integrity payment seen confirmed (it backs the
	// offer while a newer one confirms); payRetry: no payment attempt
	// before then after one failed.
	lastPay  *IntegrityPayment
	payRetry time.Time
	// kind and integrity: the published offer's proof.
	kind      uint8
	integrity *protocol.IntegrityProof

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
		done: make(chan struct{}), locksMaybe: true}
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
	if p.cfg.Locks != nil {
		broken, err := p.cfg.Locks.OfferLockBroken(ctx)
		if err != nil {
			p.log.Warn("cannot check the offer's coins", "err", err)
			return
		}
		if len(broken) > 0 {
			// Someone else spends our coins: take the offer down until the
			// operator has looked.
			p.mu.Lock()
			p.paused = true
			p.mu.Unlock()
			p.log.Warn("coins backing the offer were spent by a transaction this wallet did not make; offer withdrawn",
				"coins", len(broken))
			_ = p.withdraw(ctx, fmt.Sprintf("%d coins backing it were spent by a transaction this wallet did not make "+
				"(a restored copy of the wallet?); check, then onionswap market publish", len(broken)))
			return
		}
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
	var inow integrityNow
	if p.cfg.Integrity != nil {
		inow = p.payIntegrity(ctx, off)
		// A new payment confirmed: publish its proof as a change of terms.
		terms = append(terms, inow.state()...)
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
	var mo *protocol.MarketOffer
	if p.cfg.Integrity != nil {
		if mo, err = p.integrityOffer(ctx, origin, off, inow); err != nil {
			if ctx.Err() == nil {
				p.log.Info("integrity offer not ready", "why", err)
				p.mu.Lock()
				up := p.published
				p.mu.Unlock()
				if !up {
					_ = p.withdraw(ctx, err.Error())
				}
			}
			return
		}
	} else {
		d := OriginDigest(origin, off.Fidelity.CertExpiry)
		sig, err := p.cfg.Maker.SignWithBondKey(ctx, off.Fidelity.BondOutPoint, d)
		if err != nil {
			p.log.Warn("cannot sign the offer with the bond key", "err", err)
			return
		}
		mo = &protocol.MarketOffer{ProofKind: protocol.OfferProofBond, Offer: *off, OriginSig: sig}
	}
	body, err := protocol.EncodeMarketOffer(mo)
	if err != nil {
		p.log.Warn("offer not encodable", "err", err)
		return
	}
	// Persist, then act: the coins are locked before the offer goes out
	// (and coins that arrived since are added at each refresh).
	if p.cfg.Locks != nil {
		n, sat, err := p.cfg.Locks.LockOfferCoins(ctx)
		if err != nil {
			p.log.Warn("cannot lock the offer's coins", "err", err)
			return
		}
		p.mu.Lock()
		p.locksMaybe, p.locked, p.lockedSat = true, n, sat
		p.mu.Unlock()
	}
	id, err := p.cfg.Pool.Publish(ctx, pool.TopicOffer, OfferItem, body, OfferTTL)
	if err != nil {
		// Our own pool refused it (say, the bond is not confirmed on our
		// node yet): try again at the next tick.
		p.log.Debug("offer not published", "err", err)
		p.mu.Lock()
		up := p.published
		p.mu.Unlock()
		if !up {
			_ = p.withdraw(ctx, "not published: "+err.Error()) // releases the coins just locked
		}
		return
	}
	p.mu.Lock()
	first := !p.published
	if first {
		p.since = now
	}
	p.published, p.terms, p.last, p.id, p.withdrawn = true, terms, now, id, ""
	p.kind, p.integrity = mo.ProofKind, mo.Integrity
	p.mu.Unlock()
	if first {
		p.log.Info("offer published", "min_size", off.MinSize, "max_size", mo.Offer.MaxSize, "proof", proofName(mo.ProofKind))
	} else {
		p.log.Debug("offer refreshed", "max_size", off.MaxSize)
	}
}

func proofName(kind uint8) string {
	if kind == protocol.OfferProofIntegrity {
		return ProofIntegrity
	}
	return ProofBond
}

// withdraw removes a published offer, releases its coins and records why
// it is down.
func (p *Publisher) withdraw(ctx context.Context, why string) error {
	p.mu.Lock()
	was, locks := p.published, p.locksMaybe
	p.withdrawn = why
	p.mu.Unlock()
	if was {
		if _, err := p.cfg.Pool.Remove(ctx, pool.TopicOffer, OfferItem); err != nil {
			p.log.Warn("offer removal not published", "err", err)
			return err
		}
		p.mu.Lock()
		p.published, p.terms = false, nil
		p.mu.Unlock()
		p.log.Info("offer withdrawn", "why", why)
	}
	if locks && p.cfg.Locks != nil {
		if err := p.cfg.Locks.UnlockOfferCoins(ctx); err != nil {
			p.log.Warn("cannot release the offer's coins", "err", err)
			return err
		}
		p.mu.Lock()
		p.locksMaybe, p.locked, p.lockedSat = false, 0, 0
		p.mu.Unlock()
	}
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
	// LockedCoins and LockedSat: the coins that back the offer (a send
	// may not spend them).
	LockedCoins int   `json:"locked_coins,omitempty"`
	LockedSat   int64 `json:"locked_sat,omitempty"`
	// Proof: bond or integrity. For an integrity offer: the payment that
	// backs it (its integrity output), the fee it paid and the last
	// height at which it backs offers (a new one is paid 12 blocks
	// before).
	Proof           string `json:"proof,omitempty"`
	IntegrityOutput string `json:"integrity_output,omitempty"`
	IntegrityFee    int64  `json:"integrity_fee,omitempty"`
	IntegrityExpiry uint32 `json:"integrity_expiry,omitempty"`
}

// Status reports the offer's state.
func (p *Publisher) Status() PublishStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.published {
		return PublishStatus{Why: p.withdrawn}
	}
	st := PublishStatus{Published: true, Since: p.since, Refreshed: p.last, ID: p.id.String(),
		LockedCoins: p.locked, LockedSat: int64(p.lockedSat), Proof: proofName(p.kind)}
	if ip := p.integrity; ip != nil {
		st.IntegrityOutput, st.IntegrityExpiry = integrityOutPoint(ip).String(), IntegrityExpiry(ip.Height)
		st.IntegrityFee = ip.Fee()
	}
	return st
}
