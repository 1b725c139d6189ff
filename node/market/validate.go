package market

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// Offer refusals (wrapped with the detail).
var (
	ErrOfferItem   = errors.New("market: an offer must use the offer item")
	ErrOfferTerms  = errors.New("market: offer terms out of range")
	ErrOriginSig   = errors.New("market: bond not bound to the offer's origin")
	ErrBondRefused = errors.New("market: bond refused")
	ErrListed      = errors.New("market: blacklisted")
	ErrBondInUse   = errors.New("market: the bond already backs another origin's live offer")
	ErrOfferAddr   = errors.New("market: offer address is not a v3 onion service")
)

// Chain is what verifying offers asks of the node's chain backend: a
// bond's outputs, and the main chain's blocks for integrity payments.
type Chain interface {
	wallet.BondChain
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
}

// Validator checks offers for the pool (the offer topic's validator) and
// remembers what the chain said of each certificate.
type Validator struct {
	chain  Chain
	policy wallet.BondPolicy
	now    func() time.Time

	bl *Blacklist // nil: none

	mu     sync.Mutex
	cache  map[[32]byte]bondResult
	icache map[[32]byte]integrityResult
	tip    int32
	tipAt  time.Time
	// owners: which origin's live offer each bond or integrity payment
	// backs, and until when (its envelope's expiry): one proof, one offer
	// in the book. A bond key (or integrity key) can sign any number of
	// origin bindings, so without this one proof would fill the book
	// under as many origins.
	owners   map[wire.OutPoint]proofOwner
	byOrigin map[[protocol.XOnlyKeySize]byte]wire.OutPoint
}

type proofOwner struct {
	origin [protocol.XOnlyKeySize]byte
	since  time.Time // when this origin took the proof
	until  time.Time
}

// UseBlacklist hides and stops relaying the offers of bl's parties (call
// before the pool starts).
func (v *Validator) UseBlacklist(bl *Blacklist) { v.bl = bl }

type bondResult struct {
	value float64 // script.BondValue, 0 when refused
	err   error
	at    time.Time
}

// NewValidator returns a validator that verifies bonds on chain under
// policy (now: nil for time.Now).
func NewValidator(chain Chain, policy wallet.BondPolicy, now func() time.Time) *Validator {
	if now == nil {
		now = time.Now
	}
	return &Validator{chain: chain, policy: policy, now: now, cache: map[[32]byte]bondResult{},
		icache: map[[32]byte]integrityResult{},
		owners: map[wire.OutPoint]proofOwner{}, byOrigin: map[[protocol.XOnlyKeySize]byte]wire.OutPoint{}}
}

// Topic is the pool's offer topic with this validator.
func (v *Validator) Topic() pool.Topic {
	// Twice the TTL: a publisher whose clock runs ahead is not refused
	// for it; the pool's own skew check bounds creation times.
	return pool.Topic{Name: pool.TopicOffer, MaxTTL: 2 * OfferTTL, Validate: v.Validate, Why: RefusalWhy}
}

// RefusalWhy names an offer refusal for the pool's counters (`pool
// stats`): what an operator needs to see why offers are not in the book.
func RefusalWhy(err error) string {
	for _, w := range []struct {
		err  error
		name string
	}{
		{ErrListed, "blacklisted"}, {ErrOfferItem, "not-an-offer"}, {ErrOfferTerms, "bad-terms"},
		{ErrOfferAddr, "bad-address"}, {ErrOriginSig, "bond-not-bound"}, {ErrBondInUse, "bond-in-use"},
		{ErrIntegrityForged, "integrity-forged"}, {ErrIntegrityTooSmall, "integrity-too-small"},
		{ErrIntegrityUnconfirmed, "integrity-unconfirmed"}, {ErrIntegrityExpired, "integrity-expired"},
		{ErrIntegrityInUse, "integrity-in-use"}, {script.ErrBondNotFound, "bond-not-found"},
		{script.ErrBondUnconfirmed, "bond-unconfirmed"}, {script.ErrBondTooSmall, "bond-too-small"},
		{script.ErrBondCertExpired, "bond-expired"}, {ErrBondRefused, "bond-refused"},
		{protocol.ErrInvalidField, "malformed"}, {protocol.ErrTruncated, "malformed"},
	} {
		if errors.Is(err, w.err) {
			return w.name
		}
	}
	return "other"
}

// Validate implements pool.Validator: cheapest first, provably false
// offers rejected, offers we cannot confirm yet ignored.
func (v *Validator) Validate(ctx context.Context, e *protocol.PoolEnvelope) (pool.Verdict, error) {
	if e.Item != OfferItem {
		return pool.Reject, ErrOfferItem
	}
	if e.IsRemoval() {
		v.release(e.Origin)
		return pool.Accept, nil // signed by the origin: the pool checked it
	}
	m, err := protocol.DecodeMarketOffer(e.Body)
	if err != nil {
		return pool.Reject, err
	}
	if err := checkTerms(&m.Offer); err != nil {
		return pool.Reject, err
	}
	// Local policy, so not the relayer's fault: not relayed, nobody blamed.
	if v.bl != nil {
		if why, listed := v.bl.Listed(ctx, e.Origin, m); listed {
			return pool.Ignore, fmt.Errorf("%w: %s", ErrListed, why)
		}
	}
	until := time.Unix(int64(e.Expiry), 0)
	if m.ProofKind == protocol.OfferProofIntegrity {
		return v.validateIntegrity(ctx, e.Origin, m, until)
	}
	if err := checkOrigin(e.Origin, m); err != nil {
		return pool.Reject, err
	}
	_, err = v.Bond(ctx, &m.Offer.Fidelity)
	switch {
	case err == nil:
		if !v.claim(m.Offer.Fidelity.BondOutPoint, e.Origin, until, 0) {
			return pool.Ignore, ErrBondInUse
		}
		return pool.Accept, nil
	case provablyFalse(err):
		return pool.Reject, err
	}
	return pool.Ignore, err
}

// validateIntegrity: the address, the payment, the blacklist's chain of
// spending, one live offer per payment.
func (v *Validator) validateIntegrity(ctx context.Context, origin [protocol.XOnlyKeySize]byte, m *protocol.MarketOffer,
	until time.Time) (pool.Verdict, error) {
	if _, err := tor.ParseOnionAddr(m.Addr); err != nil {
		return pool.Reject, fmt.Errorf("%w: %v", ErrOfferAddr, err)
	}
	fact, err := v.Integrity(ctx, origin, m)
	switch {
	case errors.Is(err, ErrIntegrityForged) || errors.Is(err, ErrIntegrityTooSmall):
		return pool.Reject, err
	case err != nil:
		return pool.Ignore, err
	}
	// Only a payment proven on our chain passes a listing on: made-up
	// transactions spending a listed output would fill the list.
	if v.bl != nil {
		if why, listed := v.bl.Inherit(ctx, m.Integrity); listed {
			return pool.Ignore, fmt.Errorf("%w: %s", ErrListed, why)
		}
	}
	if !v.claim(fact.OutPoint, origin, until, IntegrityGrace) {
		return pool.Ignore, ErrIntegrityInUse
	}
	return pool.Accept, nil
}

// checkTerms refuses terms no taker could use.
func checkTerms(o *protocol.Offer) error {
	switch {
	case o.MinSize <= 0 || o.MaxSize < o.MinSize:
		return fmt.Errorf("%w: sizes [%d, %d]", ErrOfferTerms, o.MinSize, o.MaxSize)
	case o.MinLocktime == 0:
		return fmt.Errorf("%w: no minimum locktime", ErrOfferTerms)
	case o.TweakablePoint == nil:
		return fmt.Errorf("%w: no tweakable point", ErrOfferTerms)
	}
	return nil
}

// checkOrigin: the bond key signed OriginDigest(origin, cert expiry).
func checkOrigin(origin [protocol.XOnlyKeySize]byte, m *protocol.MarketOffer) error {
	sig, err := ecdsa.ParseDERSignature(m.OriginSig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOriginSig, err)
	}
	d := OriginDigest(origin, m.Offer.Fidelity.CertExpiry)
	if !sig.Verify(d[:], m.Offer.Fidelity.BondPubKey) {
		return ErrOriginSig
	}
	return nil
}

// provablyFalse: refusals that no honest publisher's offer can earn,
// whatever its node and policy: a forged or malformed certificate, an
// output that is not the bond it claims.
func provablyFalse(err error) bool {
	for _, e := range []error{script.ErrBondBadSignature, script.ErrBondCertInvalid, script.ErrBondCertLifetime,
		script.ErrBondScriptMismatch, script.ErrBondAmountMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Bond verifies a fidelity certificate on our chain backend, or returns
// what it said less than BondCacheTTL ago; the value is script.BondValue.
// Transport errors are not cached.
func (v *Validator) Bond(ctx context.Context, f *protocol.FidelityProof) (float64, error) {
	key, err := proofKey(f)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBondRefused, err)
	}
	now := v.now()
	v.mu.Lock()
	r, ok := v.cache[key]
	v.mu.Unlock()
	if ok && now.Sub(r.at) < BondCacheTTL {
		return r.value, r.err
	}
	cert, sig := directory.CertFromProof(f)
	value, err := wallet.VerifyBondOnChain(ctx, v.chain, cert, sig, "", v.policy)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrBondRefused, err)
		if !bondRefusal(err) {
			return 0, err
		}
	}
	v.mu.Lock()
	if len(v.cache) >= MaxCachedProofs {
		v.evictLocked(now)
	}
	v.cache[key] = bondResult{value: value, err: err, at: now}
	v.mu.Unlock()
	return value, err
}

// bondRefusal: the chain answered (a verdict worth caching), rather than
// failed to answer.
func bondRefusal(err error) bool {
	for _, e := range []error{script.ErrBondBadSignature, script.ErrBondOnionMismatch, script.ErrBondCertExpired,
		script.ErrBondCertLifetime, script.ErrBondSpent, script.ErrBondNotFound, script.ErrBondScriptMismatch,
		script.ErrBondAmountMismatch, script.ErrBondUnconfirmed, script.ErrBondLockWindow, script.ErrBondTooSmall,
		script.ErrBondExpired, script.ErrBondCertInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// evictLocked drops the stale entries, or the oldest half if none is.
func (v *Validator) evictLocked(now time.Time) {
	for k, r := range v.cache {
		if now.Sub(r.at) >= BondCacheTTL {
			delete(v.cache, k)
		}
	}
	if len(v.cache) < MaxCachedProofs {
		return
	}
	n := 0
	for k := range v.cache { // map order: an arbitrary half
		if n >= MaxCachedProofs/2 {
			break
		}
		delete(v.cache, k)
		n++
	}
}

// proofKey names a certificate by the hash of its encoding.
func proofKey(f *protocol.FidelityProof) ([32]byte, error) {
	b, err := protocol.EncodeFidelityProof(f)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// claim records that origin's offer, live until until, is the one the
// proof at op backs. It fails while another origin's live offer holds
// the proof, unless that one has held it for grace (0: never): the
// integrity fee's switch between offers.
func (v *Validator) claim(op wire.OutPoint, origin [protocol.XOnlyKeySize]byte, until time.Time, grace time.Duration) bool {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	o, held := v.owners[op]
	if held && o.origin != origin && now.Before(o.until) && (grace == 0 || now.Sub(o.since) < grace) {
		return false
	}
	if len(v.owners) >= MaxCachedProofs {
		for b, o := range v.owners {
			if !now.Before(o.until) {
				delete(v.owners, b)
				delete(v.byOrigin, o.origin)
			}
		}
	}
	if prev, ok := v.byOrigin[origin]; ok && prev != op {
		delete(v.owners, prev) // the origin moved to another proof
	}
	since := now
	if held && o.origin == origin {
		since = o.since
	}
	v.owners[op] = proofOwner{origin: origin, since: since, until: until}
	v.byOrigin[origin] = op
	return true
}

// release: origin withdrew its offer; its proof may back another.
func (v *Validator) release(origin [protocol.XOnlyKeySize]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if b, ok := v.byOrigin[origin]; ok {
		if o := v.owners[b]; o.origin == origin {
			delete(v.owners, b)
		}
		delete(v.byOrigin, origin)
	}
}
