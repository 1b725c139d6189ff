package swap_test

// The recovery decisions of Engine.Resolve, one output at a time, on a
// real wallet and chaintest's validating chain: every transaction the
// engine decides to publish must also pass the chain's script, locktime
// and relative-lock checks.

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

const (
	outValue = 200_000
	cfr      = 4000 // contract fee rate
	csv      = 3
)

type fixture struct {
	t        *testing.T
	net      *swaptest.Net
	w        *wallet.Wallet
	eng      *swap.Engine
	preimage [32]byte
	hash     [20]byte
	next     uint32 // next key slot
}

func newFixture(t *testing.T) *fixture {
	net := swaptest.New(t)
	w := net.Wallet("engine")
	f := &fixture{t: t, net: net, w: w, eng: swap.NewEngine(w, net.Chain, swaptest.Logger("engine"))}
	_, _ = rand.Read(f.preimage[:])
	f.hash = script.PreimageHash(f.preimage)
	return f
}

// peer is the counterparty of an output: its 2-of-2 key and its contract
// key (hashlock when we send, timelock when we receive).
type peer struct{ ms, lock *btcec.PrivateKey }

// output builds a fully cross-signed output of ours in direction dir,
// funded on chain by a confirmed transaction (when funded), watched by the
// wallet as the engine's callers do.
func (f *fixture) output(dir swap.Dir, funded bool) (*swap.Output, peer) {
	t := f.t
	t.Helper()
	kr := f.w.Keys()
	p := peer{}
	p.ms, _ = btcec.NewPrivateKey()
	p.lock, _ = btcec.NewPrivateKey()
	my, lock := swap.SwapKeyRef(7, f.next), swap.SwapKeyRef(7, f.next+1)
	f.next += 2
	myPriv, err := my.Priv(kr)
	if err != nil {
		t.Fatal(err)
	}
	lockPub, err := lock.Pub(kr)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := script.MultisigScript(myPriv.PubKey(), p.ms.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	hl, tl := p.lock.PubKey(), lockPub
	if dir == swap.DirIn {
		hl, tl = lockPub, p.lock.PubKey()
	}
	cs, err := swap.ContractFor(f.hash, hl, tl, csv)
	if err != nil {
		t.Fatal(err)
	}
	var op wire.OutPoint
	if funded {
		op = wire.OutPoint{Hash: f.net.Chain.Fund(script.WitnessScriptHash(ms), outValue).TxHash()}
	} else {
		_, _ = rand.Read(op.Hash[:])
	}
	ctx, err := script.NewContractTx(op, outValue, cs, swap.ContractFee(cfr))
	if err != nil {
		t.Fatal(err)
	}
	mySig, err := swap.SignContract(ctx, ms, outValue, myPriv)
	if err != nil {
		t.Fatal(err)
	}
	peerSig, err := swap.SignContract(ctx, ms, outValue, p.ms)
	if err != nil {
		t.Fatal(err)
	}
	o := &swap.Output{Hop: 1, Dir: dir, FundingOutPoint: op, Value: outValue, MultisigScript: ms, ContractScript: cs,
		ContractTx: swap.SerializeTx(ctx), MyKey: my, LockKey: lock, PeerPub: p.ms.PubKey().SerializeCompressed(),
		MySig: mySig, PeerSig: peerSig, Status: swap.StatusLive}
	if err := f.eng.Watch(context.Background(), []*swap.Output{o}); err != nil {
		t.Fatal(err)
	}
	f.net.Sync(f.w)
	return o, p
}

// resolve runs one engine pass over o and returns the preimage learned.
func (f *fixture) resolve(o *swap.Output, pre *[32]byte) *[32]byte {
	f.t.Helper()
	learned, err := f.eng.Resolve(swaptest.Ctx(f.t, swaptest.Timeout), f.w.Keys(), []*swap.Output{o}, f.hash, pre)
	if err != nil {
		f.t.Fatal(err)
	}
	return learned
}

// spenderOf is the transaction spending op on the chain (mempool or
// block), or nil.
func (f *fixture) spenderOf(op wire.OutPoint) *wire.MsgTx {
	tx, _ := f.net.Chain.Spender(op)
	return tx
}

func (f *fixture) noRefusals() {
	f.t.Helper()
	if r := f.net.Chain.Refused(); len(r) != 0 {
		f.t.Fatalf("the chain refused %v: %v", r[0].Tx.TxHash(), r[0].Err)
	}
}

// TestResolveOutgoingRefundsAtCSV: our outgoing output with the receiver
// gone: the contract is broadcast, nothing more until it has CSV
// confirmations, then the timelock refund pays our wallet.
func TestResolveOutgoingRefundsAtCSV(t *testing.T) {
	f := newFixture(t)
	o, _ := f.output(swap.DirOut, true)
	before := swaptest.Spendable(t, f.w)
	f.resolve(o, nil)
	if f.net.Chain.Confirmations(o.ContractTxid()) != 0 || o.Status != swap.StatusLive {
		t.Fatalf("contract not broadcast (%d), status %s", f.net.Chain.Confirmations(o.ContractTxid()), o.Status)
	}
	f.resolve(o, nil) // idempotent: "already in the mempool" is success
	for confs := int32(1); confs < csv; confs++ {
		f.net.Mine(1)
		f.resolve(o, nil)
		if o.Status != swap.StatusLive || f.spenderOf(o.ContractOutPoint()) != nil {
			t.Fatalf("at %d confirmations (CSV %d): status %s", confs, csv, o.Status)
		}
	}
	f.net.Mine(1)
	f.resolve(o, nil)
	refund := f.spenderOf(o.ContractOutPoint())
	if o.Status != swap.StatusRefunded || refund == nil || *o.ResolveTxid != refund.TxHash() || refund.TxIn[0].Sequence != csv {
		t.Fatalf("at CSV: status %s, refund %v", o.Status, refund != nil)
	}
	f.net.Mine(1, f.w)
	if got, want := swaptest.Spendable(t, f.w)-before, o.ContractValue()-f.net.Fee(refund.TxHash()); got != want {
		t.Fatalf("wallet gained %d, want the contract value less the refund fee, %d", got, want)
	}
	f.noRefusals()
}

// TestResolveOutgoingClaimedByPeer: the receiver claims our contract by
// hashlock: the output is the peer's and the preimage is learned.
func TestResolveOutgoingClaimedByPeer(t *testing.T) {
	f := newFixture(t)
	o, p := f.output(swap.DirOut, true)
	f.resolve(o, nil)
	claim, err := script.HashlockSpendTx(o.ContractOutPoint(), o.ContractValue(), o.ContractScript, f.preimage, p.lock,
		script.P2WPKHPkScript(p.ms.PubKey()), 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.net.Chain.Broadcast(context.Background(), claim); err != nil {
		t.Fatal(err)
	}
	learned := f.resolve(o, nil)
	if learned == nil || *learned != f.preimage || o.Status != swap.StatusPeer || *o.ResolveTxid != claim.TxHash() {
		t.Fatalf("learned %v, status %s", learned != nil, o.Status)
	}
	f.noRefusals()
}

// TestResolveIncoming: our incoming output, in each situation: the
// sender's key handed over (cooperative sweep, no contract), the preimage
// known (contract and hashlock claim at once, the claim paying for both),
// nothing known (wait; the sender's refund after CSV is the peer's).
func TestResolveIncoming(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// Key handed over: swept with both keys.
	swept, p := f.output(swap.DirIn, true)
	b := p.ms.Key.Bytes()
	swept.PeerPriv = b[:]
	f.resolve(swept, nil)
	sweep := f.spenderOf(swept.FundingOutPoint)
	if swept.Status != swap.StatusSettled || sweep == nil || *swept.ResolveTxid != sweep.TxHash() ||
		f.net.Chain.Confirmations(swept.ContractTxid()) != -1 {
		t.Fatalf("sweep: status %s, contract confirmations %d", swept.Status, f.net.Chain.Confirmations(swept.ContractTxid()))
	}

	// Preimage known: contract + claim (CPFP) in one pass.
	claimed, _ := f.output(swap.DirIn, true)
	f.resolve(claimed, &f.preimage)
	claim := f.spenderOf(claimed.ContractOutPoint())
	if claimed.Status != swap.StatusClaimed || claim == nil || *claimed.ResolveTxid != claim.TxHash() {
		t.Fatalf("claim: status %s", claimed.Status)
	}
	if got, ok := script.PreimageFromWitness(claim.TxIn[0].Witness, f.hash); !ok || got != f.preimage {
		t.Fatal("claim does not carry the preimage")
	}
	pkg := f.net.Fee(claimed.ContractTxid()) + f.net.Fee(claim.TxHash())
	vsize := int64(swap.ContractTxVSize + swap.HashlockClaimVSize)
	if rate, _ := f.net.Chain.FeeRate(ctx, 6); pkg*1000 < rate*vsize {
		t.Fatalf("contract + claim pay %d sat for %d vB: below the fee rate %d sat/kvB", pkg, vsize, rate)
	}

	// Nothing known, the sender broadcast the contract: wait, then the
	// sender's refund after CSV.
	waiting, p2 := f.output(swap.DirIn, true)
	signed, err := waiting.SignedContractTx(f.w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.net.Chain.Broadcast(ctx, signed); err != nil {
		t.Fatal(err)
	}
	f.net.Mine(1)
	f.resolve(waiting, nil)
	if waiting.Status != swap.StatusLive || f.spenderOf(waiting.ContractOutPoint()) != nil {
		t.Fatalf("without the preimage: status %s", waiting.Status)
	}
	refund, err := script.TimelockSpendTx(waiting.ContractOutPoint(), waiting.ContractValue(), waiting.ContractScript, p2.lock,
		script.P2WPKHPkScript(p2.ms.PubKey()), 2000)
	if err != nil {
		t.Fatal(err)
	}
	f.net.Mine(csv - 1)
	if _, err := f.net.Chain.Broadcast(ctx, refund); err != nil {
		t.Fatalf("sender's refund at CSV: %v", err)
	}
	f.resolve(waiting, nil)
	if waiting.Status != swap.StatusPeer || *waiting.ResolveTxid != refund.TxHash() {
		t.Fatalf("after the sender's refund: status %s", waiting.Status)
	}
	f.net.Mine(1, f.w)
	if c := swaptest.Balance(t, f.w, wallet.Contract); c != 0 {
		t.Fatalf("contract balance %d", c)
	}
	f.noRefusals()
}

// TestResolveOutgoingNeverFunded: our outgoing funding was held, never
// broadcast: recovery drops it (the coins are free again) and publishes
// nothing.
func TestResolveOutgoingNeverFunded(t *testing.T) {
	f := newFixture(t)
	f.net.Fund(f.w, 1_000_000)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	liq0, _, _ := f.w.Liquidity(ctx)
	o, _ := f.output(swap.DirOut, false)
	sent, err := f.w.FundOutputs(ctx, []*wire.TxOut{wire.NewTxOut(outValue, script.WitnessScriptHash(o.MultisigScript))}, 2000, wallet.Regular)
	if err != nil {
		t.Fatal(err)
	}
	o.FundingTxid = &sent.Txid
	if liq, _, _ := f.w.Liquidity(ctx); liq >= liq0 {
		t.Fatal("held funding does not reserve the coin")
	}
	accepted := len(f.net.Chain.Accepted())
	f.resolve(o, nil)
	if o.Status != swap.StatusAbandoned || len(f.net.Chain.Accepted()) != accepted {
		t.Fatalf("status %s, %d transactions broadcast", o.Status, len(f.net.Chain.Accepted())-accepted)
	}
	if liq, _, _ := f.w.Liquidity(ctx); liq != liq0 {
		t.Fatalf("liquidity %d after the abandon, want %d", liq, liq0)
	}
}

// TestSweepIdempotent (issue 10 item 9): a sweep whose broadcast failed
// (the node unreachable, or the process killed after storing it) is sent
// again as the same transaction, never rebuilt to a new address (which
// the node would refuse as spending a spent output, forever); a sweep
// already on the node is recognised; and the sender's contract on chain
// is reported for recovery.
func TestSweepIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rate := int64(2000)

	o, p := f.output(swap.DirIn, true)
	b := p.ms.Key.Bytes()
	o.PeerPriv = b[:]
	f.net.Chain.SetUnreachable(true)
	if _, _, err := f.eng.Sweep(ctx, f.w.Keys(), o, rate); err == nil {
		t.Fatal("sweep with the node unreachable succeeded")
	}
	f.net.Chain.SetUnreachable(false)
	first, _, err := f.eng.Sweep(ctx, f.w.Keys(), o, rate)
	if err != nil {
		t.Fatalf("sweep once the node is back: %v", err)
	}
	// The node lost it (a restart without its mempool; or our broadcast
	// never left after the wallet stored it): the wallet's stored sweep
	// goes out again.
	if !f.net.Chain.Drop(first.TxHash()) {
		t.Fatal("the sweep was not in the mempool")
	}
	again, _, err := f.eng.Sweep(ctx, f.w.Keys(), o, rate)
	if err != nil || again.TxHash() != first.TxHash() {
		t.Fatalf("second sweep: %v, %v; want the same transaction %v", again.TxHash(), err, first.TxHash())
	}
	if on := f.spenderOf(o.FundingOutPoint); on == nil || on.TxHash() != first.TxHash() {
		t.Fatalf("the chain has %v spending the output, want the first sweep", on)
	}
	f.noRefusals()

	// The sender broadcast its contract first: recovery's job.
	c, p2 := f.output(swap.DirIn, true)
	b2 := p2.ms.Key.Bytes()
	c.PeerPriv = b2[:]
	signed, err := c.SignedContractTx(f.w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.net.Chain.Broadcast(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.eng.Sweep(ctx, f.w.Keys(), c, rate); !errors.Is(err, swap.ErrContractOnChain) {
		t.Fatalf("sweep against a broadcast contract: %v, want ErrContractOnChain", err)
	}
}
