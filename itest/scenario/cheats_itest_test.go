//go:build itest

package scenario

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/script"
)

// cheatKnobs breaks an otherwise valid SetupHop in one way.
type cheatKnobs struct {
	msgValue   int64          // value claimed in the message (0: the real one)
	hash       [20]byte       // hash in the contract (zero: the message's)
	noMakerKey bool           // 2-of-2 without the maker's key
	badSig     bool           // sender signature over another value
	outLock    uint16         // outgoing CSV (0: 40, a 20-block gap)
	samePoint  bool           // both outputs on one outpoint
	outpoint   *wire.OutPoint // first output's funding outpoint (nil: a held funding tx of ours)
	// proofOtherKey: the funding proofs are signed by a key that does
	// not own the coins they spend.
	proofOtherKey bool
}

// cheatClient speaks the maker protocol as a taker would, from the test
// process's own tor on the cluster's private network.
type cheatClient struct {
	t      *testing.T
	tr     *tor.TorTransport
	addr   string
	point  *btcec.PublicKey
	sender *btcec.PrivateKey
	tl     *btcec.PrivateKey
	hash   [20]byte
	ctx    context.Context
}

// funding builds a funding tx paying value to the 2-of-2 ms from a coin
// of the client (paid by the cluster's faucet, not mined: a maker accepts
// mempool coins) and its funding proof, signed by the coin's key or, with
// otherKey, by a key that does not own it.
func (c *cheatClient) funding(ms []byte, value int64, otherKey bool) (wire.OutPoint, protocol.FundingProof) {
	t := c.t
	key, _ := btcec.NewPrivateKey()
	pk := script.P2WPKHPkScript(key.PubKey())
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), clu.Params())
	if err != nil {
		t.Fatal(err)
	}
	txid, err := clu.FundAddress(c.ctx, addr.String(), btcutil.Amount(value+10_000))
	if err != nil {
		t.Fatal(err)
	}
	ftx, _, err := clu.Backend().Tx(c.ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	coin := wire.OutPoint{Hash: txid}
	for i, o := range ftx.TxOut {
		if string(o.PkScript) == string(pk) {
			coin.Index = uint32(i)
		}
	}
	signer := key
	if otherKey {
		signer, _ = btcec.NewPrivateKey()
	}
	return swaptest.FundingProof(coin, signer, ms, value)
}

// contractFeeRate and fundingFeeRate of the hand-made SetupHops (sat/kvB):
// above any regtest estimate floor, as a taker proposes.
const (
	cheatFundingFeeRate  = 2000
	cheatContractFeeRate = 2 * cheatFundingFeeRate
	cheatValue           = 100_000
)

func (c *cheatClient) dial(ctx context.Context) *protocol.Conn {
	c.t.Helper()
	nc, err := c.tr.Dial(ctx, c.addr)
	if err != nil {
		c.t.Fatalf("dial maker over tor: %v", err)
	}
	pc := protocol.NewConn(nc, protocol.ConnConfig{})
	if _, err := pc.Handshake(ctx, protocol.NewHello(protocol.Regtest, "scenario-cheat")); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.t.Cleanup(func() { pc.Close() })
	return pc
}

// build returns a SetupHop for 2 incoming outputs, broken as k says.
func (c *cheatClient) build(k cheatKnobs) *protocol.SetupHop {
	t := c.t
	h := &protocol.SetupHop{Hash: c.hash, InLocktime: 60, OutLocktime: 40, FundingFeeRate: cheatFundingFeeRate,
		ContractFeeRate: cheatContractFeeRate, Reimbursement: swap.Reimbursement(2, cheatFundingFeeRate)}
	_, _ = rand.Read(h.SwapID[:])
	if k.outLock != 0 {
		h.OutLocktime = k.outLock
	}
	for i := 0; i < 2; i++ {
		mn, _ := script.NewNonce()
		hn, _ := script.NewNonce()
		makerMS := script.TweakPubKey(c.point, mn)
		if k.noMakerKey {
			other, _ := btcec.NewPrivateKey()
			makerMS = other.PubKey()
		}
		ms, err := script.MultisigScript(c.sender.PubKey(), makerMS)
		if err != nil {
			t.Fatal(err)
		}
		value := int64(cheatValue)
		op, proof := c.funding(ms, value, k.proofOtherKey)
		if k.outpoint != nil && i == 0 {
			op = *k.outpoint // on chain: no proof is looked at
		}
		if k.samePoint && i == 1 {
			op, proof = h.Incoming[0].FundingOutPoint, h.Incoming[0].Proof
		}
		ch := c.hash
		if k.hash != ([20]byte{}) {
			ch = k.hash
		}
		cs, err := swap.ContractFor(ch, script.TweakPubKey(c.point, hn), c.tl.PubKey(), h.InLocktime)
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := script.NewContractTx(op, value, cs, swap.ContractFee(cheatContractFeeRate))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := swap.SignContract(ctx, ms, value, c.sender)
		if err != nil {
			t.Fatal(err)
		}
		if k.badSig {
			sig, _ = swap.SignContract(ctx, ms, value+1, c.sender)
		}
		if k.msgValue != 0 {
			value = k.msgValue
		}
		nmn, _ := script.NewNonce()
		nhn, _ := script.NewNonce()
		h.Incoming = append(h.Incoming, protocol.IncomingOutput{FundingOutPoint: op, FundingValue: value, MultisigScript: ms,
			MultisigNonce: mn, HashlockNonce: hn, TimelockPubKey: c.tl.PubKey(), ContractTx: ctx, SenderSig: sig, Proof: proof})
		h.Outgoing = append(h.Outgoing, protocol.NextHopKeys{MultisigPubKey: script.TweakPubKey(c.point, nmn),
			HashlockPubKey: script.TweakPubKey(c.point, nhn)})
	}
	return h
}

// spentOutpoint finds a confirmed output already spent: a faucet coinbase
// of the bootstrap blocks (the faucet spends them oldest first).
func spentOutpoint(t *testing.T, ctx context.Context) wire.OutPoint {
	t.Helper()
	b := clu.Backend()
	for h := int32(1); h <= 100; h++ {
		bh, err := b.BlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := b.Block(ctx, bh)
		if err != nil {
			t.Fatal(err)
		}
		op := wire.OutPoint{Hash: blk.Transactions[0].TxHash(), Index: 0}
		if _, _, err := b.UTXO(ctx, op); errors.Is(err, chain.ErrNotFound) {
			return op
		}
	}
	t.Fatal("no spent coinbase output in blocks 1–100")
	return wire.OutPoint{}
}

// TestScenarioProtocolCheatsRefused sends hand-made SetupHops over Tor to a
// real maker process (H1): each cheat is refused with an explicit Error
// (code and reason), nothing is signed (no SetupHopReply) or stored (the
// maker's swap list), and the maker keeps serving: a valid SetupHop is
// accepted afterwards, the same funding outpoints in a second swap are
// refused as bound to another contract, a preimage that does not hash to
// the swap's hash value is refused, and the Abort releases the
// reservation. The fee-skimming cheat (the taker's refusal) is
// TestScenarioTakerRefusesFeeSkim.
func TestScenarioProtocolCheatsRefused(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	tr, err := tor.NewTorTransport(ctx, tor.Config{Mode: tor.ModeManaged, DataDir: filepath.Join(baseDir, "cheat-tor"),
		ExtraArgs: clu.Tornet().ClientArgs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	before := quiet(t, ctx, fx.h1)

	c := &cheatClient{t: t, tr: tr, addr: fx.h1.Onion(), ctx: ctx}
	pc := c.dial(ctx)
	if err := pc.Send(ctx, &protocol.OfferRequest{}); err != nil {
		t.Fatal(err)
	}
	msg, err := pc.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	offer, ok := msg.(*protocol.Offer)
	if !ok {
		t.Fatalf("got %T, want an Offer", msg)
	}
	c.point = offer.TweakablePoint
	c.sender, _ = btcec.NewPrivateKey()
	c.tl, _ = btcec.NewPrivateKey()
	var pre [32]byte
	_, _ = rand.Read(pre[:])
	c.hash = script.PreimageHash(pre)
	spent := spentOutpoint(t, ctx)
	var other [20]byte
	other[0] = 1

	tests := []struct {
		name string
		k    cheatKnobs
		code protocol.ErrorCode
		want error
	}{
		{"forged amount", cheatKnobs{msgValue: 150_000}, protocol.CodeInvalidRequest, swap.ErrContractTx},
		{"funding outpoint used twice", cheatKnobs{samePoint: true}, protocol.CodeInvalidRequest, swap.ErrDuplicate},
		{"funding outpoint already spent", cheatKnobs{outpoint: &spent}, protocol.CodeInvalidRequest, swap.ErrFundingMissing},
		{"wrong hash value", cheatKnobs{hash: other}, protocol.CodeInvalidRequest, swap.ErrContractTx},
		{"locktime gap below reaction time", cheatKnobs{outLock: 45}, protocol.CodeInvalidRequest, swap.ErrReactionTime},
		{"multisig without the maker's key", cheatKnobs{noMakerKey: true}, protocol.CodeInvalidRequest, swap.ErrKeyNotMine},
		{"bad sender signature", cheatKnobs{badSig: true}, protocol.CodeInvalidSignature, swap.ErrSignature},
		{"funding proof of coins that are not the sender's", cheatKnobs{proofOtherKey: true}, protocol.CodeInvalidRequest, swap.ErrFundingProof},
	}
	var refused []protocol.SwapID
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := c.build(tc.k)
			refused = append(refused, h.SwapID)
			pe := sendExpectError(t, ctx, c.dial(ctx), h)
			if pe.Code != tc.code || !strings.Contains(pe.Text, tc.want.Error()) {
				t.Fatalf("refusal %s %q, want %s with %q", pe.Code, pe.Text, tc.code, tc.want)
			}
			t.Logf("refused: %s: %s", pe.Code, pe.Text)
		})
	}

	// Still serving: a valid SetupHop is accepted (signed: a reply).
	h := c.build(cheatKnobs{})
	pcv := c.dial(ctx)
	if err := pcv.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	reply, err := pcv.Receive(ctx)
	if err != nil {
		t.Fatalf("valid SetupHop after the cheats: %v", err)
	}
	if r, ok := reply.(*protocol.SetupHopReply); !ok || len(r.ReceiverSigs) != 2 {
		t.Fatalf("got %T, want a SetupHopReply with 2 signatures", reply)
	}
	// The same outpoints in another swap: bound to another contract.
	h2 := *h
	_, _ = rand.Read(h2.SwapID[:])
	refused = append(refused, h2.SwapID)
	pe := sendExpectError(t, ctx, c.dial(ctx), &h2)
	if pe.Code != protocol.CodeInvalidRequest || !strings.Contains(pe.Text, swap.ErrOutpointBound.Error()) {
		t.Fatalf("outpoint bound twice: %s %q", pe.Code, pe.Text)
	}
	t.Logf("refused: %s: %s", pe.Code, pe.Text)
	// A preimage that does not hash to the swap's hash value.
	var wrong [32]byte
	_, _ = rand.Read(wrong[:])
	if err := pcv.Send(ctx, &protocol.Preimage{SwapID: h.SwapID, Preimage: wrong}); err != nil {
		t.Fatal(err)
	}
	_, err = pcv.Receive(ctx)
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidRequest || !strings.Contains(pe.Text, swap.ErrHash.Error()) {
		t.Fatalf("wrong preimage: %v, want %s", err, swap.ErrHash)
	}
	t.Logf("refused: %s: %s", pe.Code, pe.Text)
	if err := c.dial(ctx).Send(ctx, &protocol.Abort{SwapID: h.SwapID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	// Nothing of the refused requests stored; the valid one released.
	waitUntil(t, ctx, "the aborted swap abandoned", func() (bool, string) {
		ph := phaseOf(ctx, fx.h1, before[fx.h1])
		return ph == string(swap.PhaseAbandoned), "phase " + ph
	})
	ss := newSwaps(t, ctx, fx.h1, before[fx.h1])
	if len(ss) != 1 || ss[0].ID != h.SwapID.String() {
		t.Errorf("maker stored %d swaps since the cheats, want only the valid one", len(ss))
	}
	for _, s := range ss {
		for _, id := range refused {
			if s.ID == id.String() {
				t.Errorf("refused swap %s stored (phase %s)", s.ID, s.Phase)
			}
		}
	}
	ms, err := fx.h1.Client().MakerStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Reservations) != 0 {
		t.Errorf("reservations left: %+v", ms.Reservations)
	}
	after := quiet(t, ctx, fx.h1)
	if after[fx.h1].spendable != before[fx.h1].spendable {
		t.Errorf("maker balance %d → %d", before[fx.h1].spendable, after[fx.h1].spendable)
	}
}

// sendExpectError sends h and returns the maker's Error (failing otherwise).
func sendExpectError(t *testing.T, ctx context.Context, pc *protocol.Conn, h *protocol.SetupHop) *protocol.PeerError {
	t.Helper()
	if err := pc.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	msg, err := pc.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T), want the maker's Error", err, msg)
	}
	return pe
}
