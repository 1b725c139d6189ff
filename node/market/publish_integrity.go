package market

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

// IntegrityPayment is a maker's integrity-fee payment as the publisher
// sees it.
type IntegrityPayment struct {
	OutPoint wire.OutPoint // the integrity output
	Fee      int64         // sat paid to miners
	VSize    int64
	Height   uint32 // confirming block; 0 while unconfirmed
}

// IntegrityPayer is the maker's wallet: its integrity branch.
type IntegrityPayer interface {
	// LatestIntegrity is the newest payment (nil, nil when none).
	LatestIntegrity(ctx context.Context) (*IntegrityPayment, error)
	// PayIntegrity pays fee to miners from the integrity branch, topping
	// the integrity output up to topUp from the wallet's coins when it
	// holds too little (persisted, then broadcast).
	PayIntegrity(ctx context.Context, fee, topUp int64) (*IntegrityPayment, error)
	// ProveIntegrity is the proof of a confirmed payment, its key signing
	// digest.
	ProveIntegrity(ctx context.Context, op wire.OutPoint, digest [32]byte) (*protocol.IntegrityProof, error)
}

// IntegrityConfig: a maker whose offers are backed by an integrity fee.
type IntegrityConfig struct {
	Payer IntegrityPayer
	Level IntegrityLevel // IntegrityNormal when zero
	// Addr is the maker's onion address "host:port", which the offer
	// names (a bond offer's certificate names it instead).
	Addr string
	// Tip is the chain's height.
	Tip func(ctx context.Context) (int32, error)
}

// Integrity payment schedule, with its derivation.
const (
	// IntegrityRenewBlocks: a new payment goes out this many blocks before
	// the current one stops backing offers: 12 blocks (2 hours) for it to
	// confirm at the floor fee rate (5 sat/vB) before the offer lapses.
	IntegrityRenewBlocks = 12
	// integrityVSize: the size the fee of a new payment is reckoned for
	// (the floor is per vbyte): a top-up with three P2WPKH inputs and
	// change, ~250 vB, rounded up; the daily one-input payment is ~110.
	integrityVSize = 300
	// integrityHeadroomPercent: a payment's fee covers this share above
	// the offer's maximum amount, so that liquidity growing after a swap
	// does not need a new payment each time; the offer's maximum is
	// capped at what the fee covers meanwhile.
	integrityHeadroomPercent = 25
	// integrityPayRetry: a payment that failed (the wallet is short of
	// coins, the node refused it) is tried again this much later, not
	// at every 5-s check.
	integrityPayRetry = time.Minute
)

// errIntegrityPending: the first payment waits for its confirmation.
var errIntegrityPending = errors.New("waiting for the integrity fee payment to confirm")

// integrityNow is what one check read of the integrity payments: the
// newest payment (nil: none) and the chain's height, or why it could not.
type integrityNow struct {
	pay *IntegrityPayment
	tip int32
	err error
}

// state names the payment the offer would use now, so that a newly
// confirmed one is published without waiting for the refresh.
func (n integrityNow) state() []byte {
	if n.err != nil || n.pay == nil {
		return nil
	}
	return []byte(fmt.Sprintf("%v@%d", n.pay.OutPoint, n.pay.Height))
}

// payIntegrity pays a new integrity fee when there is no payment, when
// the newest is about to stop backing offers, or when its fee no longer
// reaches the chosen level for the offer's maximum amount; never while
// the newest is still confirming. It runs at every check, published or
// not, so the renewal does not wait for the offer's refresh. It returns
// what it read (with the new payment, when it made one).
func (p *Publisher) payIntegrity(ctx context.Context, off *protocol.Offer) integrityNow {
	ic := p.cfg.Integrity
	level := cmp.Or(ic.Level, IntegrityNormal)
	tip, err := ic.Tip(ctx)
	if err != nil {
		return integrityNow{err: err}
	}
	pay, err := ic.Payer.LatestIntegrity(ctx)
	if err != nil {
		p.log.Warn("cannot read the integrity payments", "err", err)
		return integrityNow{err: err}
	}
	now := integrityNow{pay: pay, tip: tip}
	if pay != nil && pay.Height > 0 && int64(tip) <= int64(IntegrityExpiry(pay.Height)) {
		p.mu.Lock()
		p.lastPay = pay
		p.mu.Unlock()
	}
	needed := pay == nil || (pay.Height > 0 && (int64(tip)+IntegrityRenewBlocks > int64(IntegrityExpiry(pay.Height)) ||
		levelOf(pay.Fee, off.MaxSize, pay.VSize) < level))
	p.mu.Lock()
	wait := p.cfg.Now().Before(p.payRetry)
	p.mu.Unlock()
	if !needed || wait || off.MaxSize < off.MinSize {
		return now
	}
	fee := RequiredIntegrityFee(level, off.MaxSize*(100+integrityHeadroomPercent)/100, integrityVSize)
	// The payment may need the wallet's coins (a top-up); the offer's
	// locks would keep them from it. They are locked again before the
	// offer goes out.
	if p.cfg.Locks != nil {
		if err := p.cfg.Locks.UnlockOfferCoins(ctx); err != nil {
			p.log.Warn("cannot release the offer's coins for the integrity fee", "err", err)
			return now
		}
	}
	np, err := ic.Payer.PayIntegrity(ctx, fee, fee*wallet.IntegrityTopUpDays)
	if err != nil {
		p.log.Warn("cannot pay the integrity fee", "fee", fee, "retry_in", integrityPayRetry, "err", err)
		p.mu.Lock()
		p.payRetry = p.cfg.Now().Add(integrityPayRetry)
		p.mu.Unlock()
		return now
	}
	p.log.Info("integrity fee paid", "fee", fee, "level", level.String())
	now.pay = np
	return now
}

// integrityOffer builds the offer backed by the newest usable payment:
// until a new payment confirms, the previous one (while still valid)
// keeps the offer up, its maximum capped at what that fee covers.
func (p *Publisher) integrityOffer(ctx context.Context, origin [protocol.XOnlyKeySize]byte, off *protocol.Offer,
	now integrityNow) (*protocol.MarketOffer, error) {
	ic := p.cfg.Integrity
	level := cmp.Or(ic.Level, IntegrityNormal)
	if now.err != nil {
		return nil, now.err
	}
	pay, tip := now.pay, now.tip
	usable := func(q *IntegrityPayment) bool {
		return q != nil && q.Height > 0 && int64(tip) <= int64(IntegrityExpiry(q.Height))
	}
	use := pay
	if !usable(use) {
		p.mu.Lock()
		use = p.lastPay // the one before a payment that is confirming
		p.mu.Unlock()
		if !usable(use) {
			if pay != nil && pay.Height == 0 {
				return nil, errIntegrityPending
			}
			return nil, errors.New("no integrity fee payment yet (see the log)")
		}
	}
	o := *off
	if cover := use.Fee * 1_000_000 / levelPPM[level]; o.MaxSize > cover {
		if cover < o.MinSize {
			return nil, fmt.Errorf("the integrity fee paid (%d sat) covers offers up to %d sat only; %w",
				use.Fee, cover, errIntegrityPending)
		}
		o.MaxSize = cover
	}
	proof, err := ic.Payer.ProveIntegrity(ctx, use.OutPoint, IntegrityDigest(origin, IntegrityExpiry(use.Height)))
	if err != nil {
		return nil, err
	}
	return &protocol.MarketOffer{ProofKind: protocol.OfferProofIntegrity, Offer: o, Addr: ic.Addr, Integrity: proof}, nil
}
