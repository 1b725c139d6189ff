package wallet

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
)

// newFake returns an in-memory regtest chain at height 500.
func newFake() *chaintest.Chain { return newFakeOn(&chaincfg.RegressionNetParams) }

// newFakeOn returns an in-memory chain of another network.
func newFakeOn(p *chaincfg.Params) *chaintest.Chain {
	return chaintest.New(chaintest.Options{Params: p, Height: 500})
}

// recordingBackend counts broadcasts and lets a test look at the database
// at the moment of the broadcast. It accepts (or refuses) without asking
// the chain: its tests spend coins inserted straight into the database.
type recordingBackend struct {
	*chaintest.Chain
	broadcasts int
	refuse     bool
	check      func(*wire.MsgTx)
}

var _ chain.Backend = (*recordingBackend)(nil)

func (r *recordingBackend) Broadcast(_ context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	r.broadcasts++
	if r.check != nil {
		r.check(tx)
	}
	if r.refuse {
		return chainhash.Hash{}, fmt.Errorf("%w: insufficient fee", chain.ErrRejected)
	}
	return tx.TxHash(), nil
}

// TestAccept says yes: the refusal under test is the broadcast's.
func (r *recordingBackend) TestAccept(context.Context, *wire.MsgTx) (bool, string, error) {
	return true, "", nil
}
