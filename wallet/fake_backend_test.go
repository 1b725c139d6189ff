package wallet

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

// fakeBackend is a chain.Backend with a fixed tip and nothing else, for
// unit tests that never reach the chain.
type fakeBackend struct {
	params *chaincfg.Params
	tip    int32
}

var _ chain.Backend = (*fakeBackend)(nil)

func newFake() *fakeBackend { return &fakeBackend{params: &chaincfg.RegressionNetParams, tip: 500} }

func (f *fakeBackend) Params() *chaincfg.Params { return f.params }
func (f *fakeBackend) Tip(context.Context) (int32, chainhash.Hash, error) {
	return f.tip, chainhash.Hash{byte(f.tip)}, nil
}
func (f *fakeBackend) BlockHash(context.Context, int32) (chainhash.Hash, error) {
	return chainhash.Hash{}, chain.ErrNotFound
}
func (f *fakeBackend) Block(context.Context, chainhash.Hash) (*wire.MsgBlock, error) {
	return nil, chain.ErrNotFound
}
func (f *fakeBackend) BlockHeader(context.Context, chainhash.Hash) (*wire.BlockHeader, error) {
	return nil, chain.ErrNotFound
}
func (f *fakeBackend) Broadcast(_ context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	return tx.TxHash(), nil
}
func (f *fakeBackend) TestAccept(context.Context, *wire.MsgTx) (bool, string, error) {
	return true, "", nil
}
func (f *fakeBackend) Tx(context.Context, chainhash.Hash) (*wire.MsgTx, chain.TxStatus, error) {
	return nil, chain.TxStatus{}, chain.ErrNotFound
}
func (f *fakeBackend) MempoolTxids(context.Context) ([]chainhash.Hash, error) { return nil, nil }
func (f *fakeBackend) MempoolSpender(context.Context, wire.OutPoint) (*chainhash.Hash, error) {
	return nil, nil
}
func (f *fakeBackend) UTXO(context.Context, wire.OutPoint) (*wire.TxOut, int32, error) {
	return nil, 0, chain.ErrNotFound
}
func (f *fakeBackend) FeeRate(context.Context, int) (int64, error) { return 2000, nil }
func (f *fakeBackend) Mine(context.Context, int) ([]chainhash.Hash, error) {
	return nil, chain.ErrUnsupported
}
func (f *fakeBackend) Close() {}

// recordingBackend counts broadcasts and lets a test look at the database
// at the moment of the broadcast.
type recordingBackend struct {
	*fakeBackend
	broadcasts int
	refuse     bool
	check      func(*wire.MsgTx)
}

func (r *recordingBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	r.broadcasts++
	if r.check != nil {
		r.check(tx)
	}
	if r.refuse {
		return chainhash.Hash{}, fmt.Errorf("%w: insufficient fee", chain.ErrRejected)
	}
	return tx.TxHash(), nil
}
