package market

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// Trust score from verifiable swap proofs (issue 12 item 4). A maker may
// hand a taker that asks (protocol.TrustRequest) proofs of swaps it chose
// to share; the taker checks each on its own node and scores the maker
// with Score, together with its own history with it.

// Verification parameters.
const (
	// TrustProofMaxAge: a proof is signed when asked for; one older than
	// an hour is a replay (a Tor round trip takes seconds).
	TrustProofMaxAge = time.Hour
	// TrustClockSkew: how far in the future a proof's timestamp may be
	// (clocks of Tor users drift by minutes; Tor itself tolerates more).
	TrustClockSkew = 5 * time.Minute
)

// Score parameters. A proof shows that its maker's key took part in a
// swap whose amount was locked for a while; a self-deal costs two mining
// fees whatever its size, so size is capped per proof and proofs are
// capped in total, and what the node saw itself outweighs what it is told.
const (
	// TrustCapPerProof: a proof counts its amount up to 0.01 BTC, a
	// typical swap: beyond it a larger self-deal costs no more to make.
	TrustCapPerProof = 1_000_000
	// TrustMaxProofPoints: a full, recent proof is worth one point; 20
	// points saturate, so that more self-deals cannot grow the score.
	TrustMaxProofPoints = 20
	// TrustRecentAge, TrustOldAge and their weights: a swap spent within
	// 30 days counts fully, within 180 days half, older a quarter: an old
	// history says less about the maker running today.
	TrustRecentAge    = 30 * 24 * time.Hour
	TrustOldAge       = 180 * 24 * time.Hour
	trustRecentWeight = 1.0
	trustMidWeight    = 0.5
	trustOldWeight    = 0.25
	// TrustCompletedPoints: one swap our own node completed with the maker
	// is worth two proofs (we saw it ourselves); capped at
	// TrustMaxHistoryPoints (10 swaps).
	TrustCompletedPoints  = 2
	TrustMaxHistoryPoints = 20
	// TrustFaultPenalty: one failure by the maker's fault (our
	// blacklist's automatic entries) cancels half of the proof points;
	// two cancel them all.
	TrustFaultPenalty = 10
)

// ErrProof: a swap proof does not verify.
var ErrProof = errors.New("swap proof refused")

// TrustChain is what verification asks of the node: full blocks by hash
// and the main chain's hash at a height (chain.Backend has both).
type TrustChain interface {
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
}

// VerifiedProof is what a verified proof contributes to the score.
type VerifiedProof struct {
	OutPoint  wire.OutPoint
	Value     int64
	SpendTime time.Time // the spend block's timestamp
}

// VerifySwapProof checks p for origin at now on our own chain: fresh
// timestamp, origin, signature by PubKeys[Signer], the funding output of
// Value to the 2-of-2 of PubKeys in FundingBlock, a spend of it in
// SpendBlock that pays no P2WSH (a contract transaction pays the HTLC
// contract: a refund or a contested swap is not cooperative), both blocks
// on the main chain. Errors wrap ErrProof with the reason.
func VerifySwapProof(ctx context.Context, c TrustChain, p *protocol.SwapProof, origin [protocol.XOnlyKeySize]byte, now time.Time) (*VerifiedProof, error) {
	refuse := func(format string, args ...any) (*VerifiedProof, error) {
		return nil, fmt.Errorf("%w: %s", ErrProof, fmt.Sprintf(format, args...))
	}
	ts := time.Unix(int64(min(p.Timestamp, math.MaxInt64)), 0)
	switch {
	case ts.Before(now.Add(-TrustProofMaxAge)):
		return refuse("stale timestamp %s", ts.UTC().Format(time.RFC3339))
	case ts.After(now.Add(TrustClockSkew)):
		return refuse("timestamp %s in the future", ts.UTC().Format(time.RFC3339))
	case origin == [protocol.XOnlyKeySize]byte{} || p.Origin != origin:
		return refuse("origin %x is not the maker's", p.Origin)
	case p.Signer > 1 || p.PubKeys[0] == nil || p.PubKeys[1] == nil:
		return refuse("malformed keys")
	}
	sig, err := ecdsa.ParseDERSignature(p.Sig)
	if err != nil {
		return refuse("signature: %v", err)
	}
	d := p.Digest()
	if !sig.Verify(d[:], p.PubKeys[p.Signer]) {
		return refuse("bad signature")
	}
	ms, err := script.MultisigScript(p.PubKeys[0], p.PubKeys[1])
	if err != nil {
		return refuse("keys: %v", err)
	}
	pk := script.WitnessScriptHash(ms)

	fb, fh, err := mainChainBlock(ctx, c, p.FundingBlock)
	if err != nil {
		return refuse("funding block: %v", err)
	}
	funded := false
	for _, tx := range fb.Transactions {
		if tx.TxHash() != p.FundingOutPoint.Hash {
			continue
		}
		if int(p.FundingOutPoint.Index) < len(tx.TxOut) {
			o := tx.TxOut[p.FundingOutPoint.Index]
			if o.Value != p.Value {
				return refuse("funding output holds %d sat, not %d", o.Value, p.Value)
			}
			funded = bytes.Equal(o.PkScript, pk)
		}
		break
	}
	if !funded {
		return refuse("funding output %v to the 2-of-2 not in block %s", p.FundingOutPoint, p.FundingBlock)
	}
	sb, sh, err := mainChainBlock(ctx, c, p.SpendBlock)
	if err != nil {
		return refuse("spend block: %v", err)
	}
	if sh < fh {
		return refuse("spend block %d below funding block %d", sh, fh)
	}
	var spend *wire.MsgTx
	for _, tx := range sb.Transactions {
		for _, in := range tx.TxIn {
			if in.PreviousOutPoint == p.FundingOutPoint {
				spend = tx
			}
		}
	}
	if spend == nil {
		return refuse("no spend of %v in block %s", p.FundingOutPoint, p.SpendBlock)
	}
	for _, o := range spend.TxOut {
		if txscript.GetScriptClass(o.PkScript) == txscript.WitnessV0ScriptHashTy {
			return refuse("spent into a contract: refunded or contested, not cooperative")
		}
	}
	return &VerifiedProof{OutPoint: p.FundingOutPoint, Value: p.Value, SpendTime: sb.Header.Timestamp}, nil
}

// mainChainBlock fetches a block and checks that it is the main chain's
// at its BIP34 height (every block since height 227,931 on mainnet, and
// every block of regtest, signet and testnet since their start, carries
// it), so a proof cannot point at a stale block.
func mainChainBlock(ctx context.Context, c TrustChain, h chainhash.Hash) (*wire.MsgBlock, int32, error) {
	b, err := c.Block(ctx, h)
	if err != nil {
		return nil, 0, err
	}
	if len(b.Transactions) == 0 {
		return nil, 0, errors.New("block without transactions")
	}
	height, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(b.Transactions[0]))
	if err != nil {
		return nil, 0, fmt.Errorf("block height: %w", err)
	}
	main, err := c.BlockHash(ctx, height)
	if err != nil {
		return nil, 0, err
	}
	if main != h {
		return nil, 0, fmt.Errorf("block %s is not on the main chain", h)
	}
	return b, height, nil
}

// History is what our own node saw of a maker.
type History struct {
	// Completed: our swaps with the maker that completed.
	Completed int `json:"completed"`
	// Unfinished: our swaps with it that ended otherwise (refunded,
	// abandoned): not counted, the fault is not known.
	Unfinished int `json:"unfinished"`
	// Faults: failures by its fault (our blacklist's automatic entry for
	// it, while it lasts or for TrustRecentAge after it was added).
	Faults int `json:"faults"`
}

// Score is the trust score of a maker, never negative:
//
//	proofs  = min(TrustMaxProofPoints, Σ min(value, TrustCapPerProof)/TrustCapPerProof · w(age))
//	          over distinct funding outpoints, w = 1 under 30 days, ½ under 180, ¼ older
//	history = min(TrustMaxHistoryPoints, TrustCompletedPoints · completed)
//	score   = max(0, proofs + history − TrustFaultPenalty · faults)
func Score(proofs []VerifiedProof, h History, now time.Time) float64 {
	seen := map[wire.OutPoint]bool{}
	var pts float64
	for _, p := range proofs {
		if seen[p.OutPoint] || p.Value <= 0 {
			continue
		}
		seen[p.OutPoint] = true
		w := trustOldWeight
		switch age := now.Sub(p.SpendTime); {
		case age < TrustRecentAge:
			w = trustRecentWeight
		case age < TrustOldAge:
			w = trustMidWeight
		}
		pts += float64(min(p.Value, TrustCapPerProof)) / TrustCapPerProof * w
	}
	pts = min(pts, TrustMaxProofPoints)
	hist := min(float64(TrustCompletedPoints*h.Completed), TrustMaxHistoryPoints)
	return max(0, pts+hist-float64(TrustFaultPenalty*h.Faults))
}
