package maker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// Trust proofs (issue 12 item 4). Every published proof links this
// maker's pool identity to one on-chain swap, so nothing is shared unless
// the operator marks a completed swap shared (ShareProof); shared proofs
// are handed over only to a peer that asks with TrustRequest on its direct
// connection, never flooded.

// ErrNotShareable: only a completed swap can be proven.
var ErrNotShareable = errors.New("maker: only a completed swap can be shared")

// SetOrigin tells the maker its pool identity (the origin of its offers):
// the key its proofs bind its swaps to. Without one the maker answers
// TrustRequest with a zero origin, which every verifier refuses.
func (m *Maker) SetOrigin(origin [protocol.XOnlyKeySize]byte) {
	m.mu.Lock()
	m.origin = origin
	m.mu.Unlock()
}

// ProofSwap is one completed maker swap as `market proofs list` shows it.
type ProofSwap struct {
	ID      protocol.SwapID `json:"id"`
	Amount  int64           `json:"amount"` // sat received (incoming total)
	Outputs int             `json:"outputs"`
	Date    time.Time       `json:"date"` // when the swap started (sharing saves the record again: not its update time)
	Shared  bool            `json:"shared"`
	// Funding and PubKeys: what its proof reveals, the incoming output it
	// names and the two keys of that 2-of-2 (hex).
	Funding string   `json:"funding"`
	PubKeys []string `json:"pubkeys"`
}

// ProofSwaps lists the completed swaps and whether each is shared.
func (m *Maker) ProofSwaps(ctx context.Context) ([]ProofSwap, error) {
	recs, err := m.st.MakerSwaps(ctx)
	if err != nil {
		return nil, err
	}
	out := []ProofSwap{}
	for _, r := range recs {
		if r.Phase != swap.MakerComplete {
			continue
		}
		var created int64
		if err := m.cfg.Wallet.DB().QueryRowContext(ctx, `SELECT created FROM swaps WHERE id = ?`, r.ID[:]).Scan(&created); err != nil {
			return nil, err
		}
		ps := ProofSwap{ID: r.ID, Amount: r.InTotal, Outputs: len(r.In), Date: time.Unix(created, 0).UTC(), Shared: r.ShareProof}
		if len(r.In) > 0 {
			ps.Funding = r.In[0].FundingOutPoint.String()
			if lo, hi, err := script.ParseMultisig(r.In[0].MultisigScript); err == nil {
				ps.PubKeys = []string{hex.EncodeToString(lo.SerializeCompressed()), hex.EncodeToString(hi.SerializeCompressed())}
			}
		}
		out = append(out, ps)
	}
	return out, nil
}

// ShareProof marks a completed swap shared (or not): its proof is then
// handed to any peer that asks.
func (m *Maker) ShareProof(ctx context.Context, id protocol.SwapID, share bool) error {
	defer m.lock(id)()
	rec, err := m.st.LoadMaker(ctx, id)
	if err != nil {
		return err
	}
	if rec.Phase != swap.MakerComplete {
		return fmt.Errorf("%w: swap %s is %s", ErrNotShareable, id, rec.Phase)
	}
	if rec.ShareProof == share {
		return nil
	}
	rec.ShareProof = share
	if err := m.st.Save(ctx, rec); err != nil {
		return err
	}
	m.log.Info("swap proof sharing changed", "swap", id, "shared", share)
	return nil
}

// TrustProofs builds, with a fresh timestamp, the proofs of the shared
// swaps (at most protocol.MaxTrustProofs, newest first): one incoming
// output each, signed with our key of its 2-of-2. A swap whose funding or
// sweep block is not known to the wallet yet is skipped.
func (m *Maker) TrustProofs(ctx context.Context, now time.Time) (*protocol.TrustProofs, error) {
	m.mu.Lock()
	origin := m.origin
	m.mu.Unlock()
	reply := &protocol.TrustProofs{Origin: origin}
	recs, err := m.st.MakerSwaps(ctx)
	if err != nil {
		return nil, err
	}
	kr := m.cfg.Wallet.Keys()
	for i := len(recs) - 1; i >= 0 && len(reply.Proofs) < protocol.MaxTrustProofs; i-- {
		r := recs[i]
		if r.Phase != swap.MakerComplete || !r.ShareProof {
			continue
		}
		for _, o := range r.In {
			p, err := m.swapProof(ctx, o, origin, now)
			if err != nil {
				m.log.Debug("swap proof skipped", "swap", r.ID, "err", err)
				continue
			}
			priv, err := o.MyKey.Priv(kr)
			if err != nil {
				return nil, err
			}
			d := p.Digest()
			p.Sig = ecdsa.Sign(priv, d[:]).Serialize()
			priv.Zero()
			reply.Proofs = append(reply.Proofs, *p)
			break // one output per swap: the amount is proven, the rest adds linkage only
		}
	}
	return reply, nil
}

// swapProof fills an unsigned proof of an incoming output we swept.
func (m *Maker) swapProof(ctx context.Context, o *swap.Output, origin [protocol.XOnlyKeySize]byte, now time.Time) (*protocol.SwapProof, error) {
	if o.Status != swap.StatusSettled {
		return nil, fmt.Errorf("output %v is %s, not swept cooperatively", o.FundingOutPoint, o.Status)
	}
	lo, hi, err := script.ParseMultisig(o.MultisigScript)
	if err != nil {
		return nil, err
	}
	mine, err := o.MyKey.Pub(m.cfg.Wallet.Keys())
	if err != nil {
		return nil, err
	}
	p := &protocol.SwapProof{FundingOutPoint: o.FundingOutPoint, Value: o.Value,
		PubKeys: [2]*btcec.PublicKey{lo, hi}, Role: protocol.ProofRoleReceiver,
		Origin: origin, Timestamp: uint64(now.Unix())}
	if hi.IsEqual(mine) {
		p.Signer = 1
	} else if !lo.IsEqual(mine) {
		return nil, fmt.Errorf("output %v: our key is not in its 2-of-2", o.FundingOutPoint)
	}
	fb, sb, err := m.cfg.Wallet.CoinBlocks(ctx, o.FundingOutPoint)
	if err != nil {
		return nil, err
	}
	// A node with txindex (or the test chain) knows the blocks too.
	if fb == nil {
		fb = m.txBlock(ctx, o.FundingOutPoint.Hash)
	}
	if sb == nil && o.ResolveTxid != nil {
		sb = m.txBlock(ctx, *o.ResolveTxid)
	}
	if fb == nil || sb == nil {
		return nil, fmt.Errorf("output %v: funding or sweep not confirmed yet", o.FundingOutPoint)
	}
	p.FundingBlock, p.SpendBlock = *fb, *sb
	return p, nil
}

func (m *Maker) txBlock(ctx context.Context, txid chainhash.Hash) *chainhash.Hash {
	_, st, err := m.cfg.Backend.Tx(ctx, txid)
	if err != nil {
		return nil
	}
	return st.BlockHash
}
