package market

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/merkle"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/script"
)

// The integrity fee: seed 002's anti-spam payment in Bitcoin terms. A
// maker without a fidelity bond pays miners a fee, at least once a day,
// from a dedicated wallet branch; the key of the payment's integrity
// output signs the offer's origin, and every node checks the payment on
// its own chain backend before it relays the offer.

// IntegrityLevel is how much an integrity fee paid, relative to the
// offer's maximum amount.
type IntegrityLevel uint8

// The seed's three levels (market-reference §3: MWC's 1 / 10 / 50 basis
// points of the trade amount). An offer below Low is refused.
const (
	IntegrityNone IntegrityLevel = iota
	IntegrityLow
	IntegrityNormal
	IntegrityHigh
)

// levelPPM: each level's share of the offer's maximum amount, in parts
// per million: 0.01 %, 0.1 %, 0.5 %.
var levelPPM = [...]int64{IntegrityLow: 100, IntegrityNormal: 1000, IntegrityHigh: 5000}

func (l IntegrityLevel) String() string {
	switch l {
	case IntegrityLow:
		return "low"
	case IntegrityNormal:
		return "normal"
	case IntegrityHigh:
		return "high"
	}
	return "none"
}

// ParseIntegrityLevel reads "low", "normal" or "high".
func ParseIntegrityLevel(s string) (IntegrityLevel, error) {
	for _, l := range []IntegrityLevel{IntegrityLow, IntegrityNormal, IntegrityHigh} {
		if s == l.String() {
			return l, nil
		}
	}
	return IntegrityNone, fmt.Errorf("market: integrity level %q (low, normal or high)", s)
}

// Integrity fee rules, with their derivation.
const (
	// IntegrityValidBlocks: a payment backs offers for 144 blocks (24 h)
	// from the block that confirmed it, the seed's "paid daily" (MWC:
	// 1,443 one-minute blocks).
	IntegrityValidBlocks = 144
	// IntegrityFloorFactor × MinRelayFeeRate × vsize is the smallest fee
	// whatever the level: the seed's "never below a transaction fee",
	// made a few times the relay minimum so that a payment costs more than
	// the cheapest transaction anyone would make anyway (MWC: 10× its base
	// fee; 5× keeps a 110-vB daily payment at 550 sat).
	IntegrityFloorFactor = 5
	// MinRelayFeeRate: Bitcoin Core's default minimum relay fee, sat/kvB.
	MinRelayFeeRate = 1000
	// IntegrityGrace: one payment backs one live offer. Another origin's
	// offer may take a payment over (the maker restarted under a new
	// origin key, or replaced its offer) once the current holder has held
	// it this long: the seed's 15-minute switch between offers. A payment
	// therefore backs at most two offers at once, and only during a switch.
	IntegrityGrace = 15 * time.Minute
	// tipCacheTTL: the tip height the 144-block window is checked against
	// is asked at most this often (one RPC, not one per offer of a
	// 1,000-offer book); a block takes ten minutes.
	tipCacheTTL = 10 * time.Second
)

// Integrity refusals (wrapped with the detail).
var (
	ErrIntegrityForged      = errors.New("market: integrity proof does not verify")
	ErrIntegrityTooSmall    = errors.New("market: integrity fee too small")
	ErrIntegrityUnconfirmed = errors.New("market: integrity payment not confirmed in our main chain")
	ErrIntegrityExpired     = errors.New("market: integrity payment older than 144 blocks")
	ErrIntegrityInUse       = errors.New("market: the integrity payment already backs another origin's live offer")
)

// IntegrityTag tags the digest the integrity output's key signs.
const IntegrityTag = "onionswap/integrity-origin"

// IntegrityDigest is what the integrity output's key signs for an offer
// published by origin: the origin key and the height after which the
// payment no longer backs offers.
func IntegrityDigest(origin [protocol.XOnlyKeySize]byte, expiry uint32) [32]byte {
	var b [protocol.XOnlyKeySize + 4]byte
	copy(b[:], origin[:])
	binary.BigEndian.PutUint32(b[protocol.XOnlyKeySize:], expiry)
	return *chainhash.TaggedHash([]byte(IntegrityTag), b[:])
}

// IntegrityExpiry is the last height at which a payment confirmed at
// height backs offers.
func IntegrityExpiry(height uint32) uint32 { return height + IntegrityValidBlocks - 1 }

// RequiredIntegrityFee is the fee a payment of vsize vbytes must pay to
// back an offer of maxSize at level.
func RequiredIntegrityFee(level IntegrityLevel, maxSize, vsize int64) int64 {
	// In two parts, so that 21 M BTC × 5,000 ppm does not overflow.
	share := maxSize/1_000_000*levelPPM[level] + maxSize%1_000_000*levelPPM[level]/1_000_000
	return max(share, IntegrityFloorFactor*MinRelayFeeRate*vsize/1000)
}

// levelOf is the highest level fee reaches for an offer of maxSize.
func levelOf(fee, maxSize, vsize int64) IntegrityLevel {
	l := IntegrityNone
	for _, c := range []IntegrityLevel{IntegrityLow, IntegrityNormal, IntegrityHigh} {
		if fee >= RequiredIntegrityFee(c, maxSize, vsize) {
			l = c
		}
	}
	return l
}

// IntegrityFact is what a verified payment proves.
type IntegrityFact struct {
	OutPoint wire.OutPoint // the integrity output
	Fee      int64
	Level    IntegrityLevel // for the offer's maximum amount
	Height   uint32
}

// integrityOutPoint names a proof's integrity output.
func integrityOutPoint(p *protocol.IntegrityProof) wire.OutPoint {
	return wire.OutPoint{Hash: p.Tx.TxHash(), Index: uint32(p.Vout)}
}

// checkIntegrity verifies what needs no chain: the origin signature, the
// integrity output's script, every input's signature under the value it
// claims (BIP143 commits to it, so the fee is proven), and the fee
// against the offer's maximum amount. Every failure is provably false.
func checkIntegrity(origin [protocol.XOnlyKeySize]byte, p *protocol.IntegrityProof, maxSize int64) (IntegrityFact, error) {
	var f IntegrityFact
	sig, err := ecdsa.ParseDERSignature(p.Sig)
	if err != nil {
		return f, fmt.Errorf("%w: origin signature: %v", ErrIntegrityForged, err)
	}
	d := IntegrityDigest(origin, IntegrityExpiry(p.Height))
	if !sig.Verify(d[:], p.Key) {
		return f, fmt.Errorf("%w: origin signature", ErrIntegrityForged)
	}
	if !bytes.Equal(p.Tx.TxOut[p.Vout].PkScript, script.P2WPKHPkScript(p.Key)) {
		return f, fmt.Errorf("%w: output %d is not P2WPKH of the integrity key", ErrIntegrityForged, p.Vout)
	}
	prevs := make(map[wire.OutPoint]*wire.TxOut, len(p.Tx.TxIn))
	var in int64
	for i, txIn := range p.Tx.TxIn {
		w := txIn.Witness
		if len(txIn.SignatureScript) != 0 || len(w) != 2 || len(w[1]) != 33 {
			return f, fmt.Errorf("%w: input %d does not spend P2WPKH", ErrIntegrityForged, i)
		}
		key, err := btcec.ParsePubKey(w[1])
		if err != nil {
			return f, fmt.Errorf("%w: input %d key: %v", ErrIntegrityForged, i, err)
		}
		if p.InputValues[i] <= 0 || p.InputValues[i] > btcutil.MaxSatoshi {
			return f, fmt.Errorf("%w: input %d value %d", ErrIntegrityForged, i, p.InputValues[i])
		}
		prevs[txIn.PreviousOutPoint] = &wire.TxOut{Value: p.InputValues[i], PkScript: script.P2WPKHPkScript(key)}
		in += p.InputValues[i]
	}
	if len(prevs) != len(p.Tx.TxIn) {
		return f, fmt.Errorf("%w: an input spent twice", ErrIntegrityForged)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevs)
	hashes := txscript.NewTxSigHashes(p.Tx, fetcher)
	for i, txIn := range p.Tx.TxIn {
		prev := prevs[txIn.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, p.Tx, i, txscript.StandardVerifyFlags, nil, hashes,
			prev.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return f, fmt.Errorf("%w: input %d: %v", ErrIntegrityForged, i, err)
		}
	}
	var out int64
	for _, o := range p.Tx.TxOut {
		out += o.Value
	}
	vsize := script.TxVSize(p.Tx)
	f = IntegrityFact{OutPoint: integrityOutPoint(p), Fee: in - out, Height: p.Height}
	if f.Level = levelOf(f.Fee, maxSize, vsize); f.Level == IntegrityNone {
		return f, fmt.Errorf("%w: %d sat, the low level needs %d for a maximum of %d sat", ErrIntegrityTooSmall,
			f.Fee, RequiredIntegrityFee(IntegrityLow, maxSize, vsize), maxSize)
	}
	return f, nil
}

// integrityResult is a cached verdict.
type integrityResult struct {
	fact IntegrityFact
	err  error
	at   time.Time
}

// Integrity verifies an integrity offer's payment: the static checks,
// then on our chain backend that its block is in our main chain at its
// height, that the block's merkle root commits to the transaction, and
// that the payment is at most 144 blocks old. Verdicts are cached per
// proof for BondCacheTTL (the window is checked against the tip each
// time); transport errors and blocks our node does not have (yet) are
// not cached.
func (v *Validator) Integrity(ctx context.Context, origin [protocol.XOnlyKeySize]byte, m *protocol.MarketOffer) (IntegrityFact, error) {
	p := m.Integrity
	key, err := integrityKey(origin, m)
	if err != nil {
		return IntegrityFact{}, err
	}
	now := v.now()
	v.mu.Lock()
	r, ok := v.icache[key]
	v.mu.Unlock()
	if !ok || now.Sub(r.at) >= BondCacheTTL {
		r.fact, r.err = checkIntegrity(origin, p, m.Offer.MaxSize)
		if r.err == nil {
			r.err = v.integrityOnChain(ctx, p)
			if r.err != nil && !errors.Is(r.err, ErrIntegrityForged) {
				// The chain did not answer, or not yet (our node lags a
				// block, or reorganised): ask again next time.
				return r.fact, r.err
			}
		}
		r.at = now
		v.mu.Lock()
		if len(v.icache) >= MaxCachedProofs {
			clear(v.icache) // rebuilt by the next validations
		}
		v.icache[key] = r
		v.mu.Unlock()
	}
	if r.err != nil {
		return r.fact, r.err
	}
	tip, err := v.tipHeight(ctx, p.Height)
	if err != nil {
		return r.fact, err
	}
	switch {
	case int64(p.Height) > int64(tip):
		return r.fact, fmt.Errorf("%w: height %d above our tip %d", ErrIntegrityUnconfirmed, p.Height, tip)
	case int64(tip) > int64(IntegrityExpiry(p.Height)):
		return r.fact, fmt.Errorf("%w: confirmed at %d, tip %d", ErrIntegrityExpired, p.Height, tip)
	}
	return r.fact, nil
}

// integrityOnChain: the block at the proof's height is the proof's block
// and its header commits to the transaction.
func (v *Validator) integrityOnChain(ctx context.Context, p *protocol.IntegrityProof) error {
	if p.Height > 1<<31-1 {
		return fmt.Errorf("%w: height %d", ErrIntegrityForged, p.Height)
	}
	h, err := v.chain.BlockHash(ctx, int32(p.Height))
	if errors.Is(err, chain.ErrNotFound) {
		return fmt.Errorf("%w: no block at height %d yet", ErrIntegrityUnconfirmed, p.Height)
	}
	if err != nil {
		return err
	}
	if h != p.Block {
		// Our node's block at that height is another one: a reorg (ours
		// or theirs), or a made-up block. Not provable either way.
		return fmt.Errorf("%w: block %d is %v here", ErrIntegrityUnconfirmed, p.Height, h)
	}
	hdr, err := v.chain.BlockHeader(ctx, h)
	if err != nil {
		return err
	}
	if merkle.Root(p.Tx.TxHash(), p.TxIndex, p.Branch) != hdr.MerkleRoot {
		return fmt.Errorf("%w: not in block %d", ErrIntegrityForged, p.Height)
	}
	return nil
}

// tipHeight is the chain tip, asked at most every tipCacheTTL, or at
// once when a proof names a block above the cached tip (its block came
// after the cache was filled: the block hash lookup found it).
func (v *Validator) tipHeight(ctx context.Context, atLeast uint32) (int32, error) {
	now := v.now()
	v.mu.Lock()
	h, at := v.tip, v.tipAt
	v.mu.Unlock()
	if !at.IsZero() && now.Sub(at) < tipCacheTTL && int64(h) >= int64(atLeast) {
		return h, nil
	}
	h, _, err := v.chain.Tip(ctx)
	if err != nil {
		return 0, err
	}
	v.mu.Lock()
	v.tip, v.tipAt = h, now
	v.mu.Unlock()
	return h, nil
}

// integrityKey names a verdict: the origin (the signature binds it), the
// maximum amount (the level depends on it) and every field of the proof.
func integrityKey(origin [protocol.XOnlyKeySize]byte, m *protocol.MarketOffer) ([32]byte, error) {
	p := m.Integrity
	h := sha256.New()
	h.Write(origin[:])
	wtxid := p.Tx.WitnessHash()
	h.Write(wtxid[:])
	for _, x := range []any{m.Offer.MaxSize, p.InputValues, p.Vout, p.Height, p.Block, p.TxIndex} {
		if err := binary.Write(h, binary.BigEndian, x); err != nil {
			return [32]byte{}, err
		}
	}
	h.Write(p.Key.SerializeCompressed())
	for _, b := range p.Branch {
		h.Write(b[:])
	}
	h.Write(p.Sig)
	var k [32]byte
	h.Sum(k[:0])
	return k, nil
}
