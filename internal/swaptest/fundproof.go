package swaptest

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// FundingProof is what a hand-made taker sends with an incoming output:
// the (unsigned) funding tx paying value to the 2-of-2 ms from coin, and
// its funding proof signed by signer (the coin's key, or another one to
// forge it). It returns the funding outpoint and the proof. For tests of
// the maker's refusals, on any chain: the coin comes from the test.
func FundingProof(coin wire.OutPoint, signer *btcec.PrivateKey, ms []byte, value int64) (wire.OutPoint, protocol.FundingProof) {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&coin, nil, nil))
	tx.AddTxOut(wire.NewTxOut(value, script.WitnessScriptHash(ms)))
	txid := tx.TxHash()
	return wire.OutPoint{Hash: txid}, protocol.FundingProof{Tx: tx, Inputs: []protocol.InputProof{
		{PubKey: signer.PubKey(), Sig: script.SignFundingProof(signer, txid, 0)}}}
}
