package maker_test

// Unit tests of the maker service in one process (internal/swaptest):
// hand-made taker messages over a loopback connection to the maker's
// inbound server, and whole swaps against a real taker, on chaintest's
// in-memory chain.

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// client is a hand-driven taker: it speaks to one maker and builds
// SetupHops, valid or broken on purpose.
type client struct {
	t     *testing.T
	net   *swaptest.Net
	m     *swaptest.Maker
	lb    *tor.Loopback
	point *btcec.PublicKey // the maker's tweakable point
	// sender keys of the incoming 2-of-2s and contracts
	sender, senderTL *btcec.PrivateKey
	hash             [20]byte
	// the coins (and keys) behind the funding proofs of the last setupHop
	lastCoins []wire.OutPoint
	lastKeys  []*btcec.PrivateKey
}

func newClient(t *testing.T, net *swaptest.Net, m *swaptest.Maker) *client {
	t.Helper()
	c := &client{t: t, net: net, m: m, lb: tor.NewLoopback()}
	t.Cleanup(func() { c.lb.Close() })
	pc := c.dial()
	if err := pc.Send(swaptest.Ctx(t, swaptest.Timeout), &protocol.OfferRequest{}); err != nil {
		t.Fatal(err)
	}
	msg, err := pc.Receive(swaptest.Ctx(t, swaptest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	c.point = msg.(*protocol.Offer).TweakablePoint
	c.sender, _ = btcec.NewPrivateKey()
	c.senderTL, _ = btcec.NewPrivateKey()
	var pre [32]byte
	_, _ = rand.Read(pre[:])
	c.hash = script.PreimageHash(pre)
	return c
}

func (c *client) dial() *protocol.Conn {
	c.t.Helper()
	ctx := swaptest.Ctx(c.t, swaptest.Timeout)
	nc, err := c.lb.Dial(ctx, c.m.Addr())
	if err != nil {
		c.t.Fatal(err)
	}
	pc := protocol.NewConn(nc, protocol.ConnConfig{})
	if _, err := pc.Handshake(ctx, protocol.NewHello(protocol.Regtest, "test")); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { pc.Close() })
	return pc
}

// knobs break a SetupHop in one way each.
type knobs struct {
	msgValue   int64    // value claimed in the message (0: the real one)
	hash       [20]byte // hash in the contract (zero: the swap's)
	noMakerKey bool     // 2-of-2 without the maker's key
	badSig     bool     // sender signature over another amount
	outLock    uint16   // outgoing locktime (0: 40)
	reimb      int64    // reimbursement (0: the formula)
	samePoint  bool     // both outputs on one outpoint
	onChain    bool     // funding outpoint confirmed, paying another script
	// Funding proofs (issue 10 item 1).
	proofNoCoin   bool            // the proof spends a coin that does not exist
	proofOtherKey bool            // signed by a key that does not own the coin
	proofShort    bool            // the coin holds less than the output
	proofOtherTx  bool            // the proof is of another transaction
	coins         []wire.OutPoint // spend these coins (reuse) instead of new ones
	coinKeys      []*btcec.PrivateKey
}

// coin funds a new P2WPKH coin of value on the chain and returns it with
// its key.
func (c *client) coin(value int64) (wire.OutPoint, *btcec.PrivateKey) {
	key, _ := btcec.NewPrivateKey()
	tx := c.net.Chain.Fund(script.P2WPKHPkScript(key.PubKey()), value)
	return wire.OutPoint{Hash: tx.TxHash(), Index: 0}, key
}

// funding builds the funding tx of one incoming output (value to the
// 2-of-2 ms) from a coin of the client, and its proof, broken as k says.
// It returns the coin it spends and its key.
func (c *client) funding(k knobs, i int, ms []byte, value int64) (wire.OutPoint, protocol.FundingProof, wire.OutPoint, *btcec.PrivateKey) {
	var coin wire.OutPoint
	var key *btcec.PrivateKey
	switch {
	case i < len(k.coins):
		coin, key = k.coins[i], k.coinKeys[i]
	case k.proofNoCoin:
		key, _ = btcec.NewPrivateKey()
		_, _ = rand.Read(coin.Hash[:])
	case k.proofShort:
		coin, key = c.coin(value - 1)
	default:
		coin, key = c.coin(value + 2_000)
	}
	signer := key
	if k.proofOtherKey {
		signer, _ = btcec.NewPrivateKey()
	}
	op, p := swaptest.FundingProof(coin, signer, ms, value)
	if k.proofOtherTx {
		p.Tx.LockTime = 1
		p.Inputs[0].Sig = script.SignFundingProof(signer, p.Tx.TxHash(), 0)
	}
	return op, p, coin, key
}

// setupHop returns a SetupHop with 2 incoming outputs of 100,000 sat
// (outpoints not on chain yet, as a taker's held funding) and an incoming
// locktime of 60, broken as k says.
func (c *client) setupHop(k knobs) *protocol.SetupHop {
	t := c.t
	c.lastCoins, c.lastKeys = nil, nil
	const cfr, value = 4000, int64(100_000)
	h := &protocol.SetupHop{Hash: c.hash, InLocktime: 60, OutLocktime: 40, FundingFeeRate: 2000, ContractFeeRate: cfr,
		Reimbursement: swap.Reimbursement(2, 2000)}
	_, _ = rand.Read(h.SwapID[:])
	if k.outLock != 0 {
		h.OutLocktime = k.outLock
	}
	if k.reimb != 0 {
		h.Reimbursement = k.reimb
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
		op, proof, coin, key := c.funding(k, i, ms, value)
		c.lastCoins, c.lastKeys = append(c.lastCoins, coin), append(c.lastKeys, key)
		if k.onChain {
			other, _ := btcec.NewPrivateKey()
			op = wire.OutPoint{Hash: c.net.Chain.Fund(script.P2WPKHPkScript(other.PubKey()), value).TxHash()}
		}
		if k.samePoint && i == 1 {
			op, proof = h.Incoming[0].FundingOutPoint, h.Incoming[0].Proof
		}
		ch := c.hash
		if k.hash != ([20]byte{}) {
			ch = k.hash
		}
		cs, err := swap.ContractFor(ch, script.TweakPubKey(c.point, hn), c.senderTL.PubKey(), h.InLocktime)
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := script.NewContractTx(op, value, cs, swap.ContractFee(cfr))
		if err != nil {
			t.Fatal(err)
		}
		signed := value
		if k.badSig {
			signed = value + 1
		}
		sig, err := swap.SignContract(ctx, ms, signed, c.sender)
		if err != nil {
			t.Fatal(err)
		}
		claimed := value
		if k.msgValue != 0 {
			claimed = k.msgValue
		}
		nmn, _ := script.NewNonce()
		nhn, _ := script.NewNonce()
		h.Incoming = append(h.Incoming, protocol.IncomingOutput{FundingOutPoint: op, FundingValue: claimed, MultisigScript: ms,
			MultisigNonce: mn, HashlockNonce: hn, TimelockPubKey: c.senderTL.PubKey(), ContractTx: ctx, SenderSig: sig,
			Proof: proof})
		h.Outgoing = append(h.Outgoing, protocol.NextHopKeys{MultisigPubKey: script.TweakPubKey(c.point, nmn),
			HashlockPubKey: script.TweakPubKey(c.point, nhn)})
	}
	return h
}

// TestMakerRefusesInvalidSetupHop: each broken SetupHop is refused with
// an explicit Error of the right code, nothing is stored or reserved, and
// the maker keeps serving: a valid SetupHop afterwards is accepted, and
// the same outpoints in another swap are refused.
func TestMakerRefusesInvalidSetupHop(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	c := newClient(t, net, m)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	accepted0 := len(net.Chain.Accepted())
	liq0, _, err := m.W.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var other [20]byte
	other[0] = 1
	tests := []struct {
		name string
		k    knobs
		code protocol.ErrorCode
	}{
		{"forged amount", knobs{msgValue: 150_000}, protocol.CodeInvalidRequest},
		{"contract with another hash", knobs{hash: other}, protocol.CodeInvalidRequest},
		{"multisig without the maker's key", knobs{noMakerKey: true}, protocol.CodeInvalidRequest},
		{"bad sender signature", knobs{badSig: true}, protocol.CodeInvalidSignature},
		{"locktime gap below the reaction time", knobs{outLock: 45}, protocol.CodeInvalidRequest},
		{"reimbursement not the formula", knobs{reimb: 5000}, protocol.CodeInvalidRequest},
		{"funding outpoint twice", knobs{samePoint: true}, protocol.CodeInvalidRequest},
		{"confirmed funding paying another script", knobs{onChain: true}, protocol.CodeInvalidRequest},
		{"funding proof of a coin that does not exist", knobs{proofNoCoin: true}, protocol.CodeInvalidRequest},
		{"funding proof signed by a key that does not own the coin", knobs{proofOtherKey: true}, protocol.CodeInvalidRequest},
		{"funding proof whose coin holds less than the output", knobs{proofShort: true}, protocol.CodeInvalidRequest},
		{"funding proof of another transaction", knobs{proofOtherTx: true}, protocol.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := c.dial()
			h := c.setupHop(tc.k)
			if err := pc.Send(ctx, h); err != nil {
				t.Fatal(err)
			}
			_, err := pc.Receive(ctx)
			var pe *protocol.PeerError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want a peer error %s", err, tc.code)
			}
			if strings.HasPrefix(tc.name, "funding proof") && !strings.Contains(pe.Text, swap.ErrFundingProof.Error()) {
				t.Fatalf("refused for another reason: %v", pe)
			}
			if _, err := m.Swap(ctx, h.SwapID); !errors.Is(err, swap.ErrUnknownSwap) {
				t.Fatalf("refused swap stored: %v", err)
			}
			if liq, _, _ := m.W.Liquidity(ctx); liq != liq0 {
				t.Fatalf("liquidity %d after a refusal, was %d", liq, liq0)
			}
		})
	}
	pc := c.dial()
	h := c.setupHop(knobs{})
	if err := pc.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	if reply, err := pc.Receive(ctx); err != nil {
		t.Fatalf("valid SetupHop after the refusals: %v", err)
	} else if _, ok := reply.(*protocol.SetupHopReply); !ok {
		t.Fatalf("got %T", reply)
	}
	h2 := *h
	_, _ = rand.Read(h2.SwapID[:])
	pc2 := c.dial()
	if err := pc2.Send(ctx, &h2); err != nil {
		t.Fatal(err)
	}
	_, err = pc2.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidRequest {
		t.Fatalf("outpoints bound to a second swap: %v", err)
	}
	if err := pc.Send(ctx, &protocol.Abort{SwapID: h.SwapID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, m, h.SwapID, swap.PhaseAbandoned)
	if n := len(net.Chain.Accepted()) - accepted0; n != 0 {
		t.Fatalf("%d transactions broadcast", n)
	}
}

// TestMakerAnswersStaleTermsWithOffer: a SetupHop naming terms other than
// the maker's (a taker pricing from an offer its book saw before a fee
// change) is answered with the maker's current Offer: nothing stored or
// reserved, the connection kept, and the same setup naming the current
// terms — or none — is accepted on it.
func TestMakerAnswersStaleTermsWithOffer(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	c := newClient(t, net, m)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	liq0, _, err := m.W.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current, err := m.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := *current
	old.BaseFee-- // the fee the book saw
	for _, tc := range []struct {
		name  string
		terms [32]byte
	}{
		{"current terms", current.TermsHash()},
		{"no terms named", [32]byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := c.dial()
			h := c.setupHop(knobs{})
			h.OfferHash = old.TermsHash()
			if err := pc.Send(ctx, h); err != nil {
				t.Fatal(err)
			}
			reply, err := pc.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			o, ok := reply.(*protocol.Offer)
			if !ok || o.TermsHash() != current.TermsHash() || o.MaxSize != current.MaxSize {
				t.Fatalf("got %T %+v, want the current offer", reply, reply)
			}
			if _, err := m.Swap(ctx, h.SwapID); !errors.Is(err, swap.ErrUnknownSwap) {
				t.Fatalf("stale setup stored: %v", err)
			}
			if liq, _, _ := m.W.Liquidity(ctx); liq != liq0 {
				t.Fatalf("liquidity %d after a stale setup, was %d", liq, liq0)
			}
			h.OfferHash = tc.terms
			if err := pc.Send(ctx, h); err != nil {
				t.Fatal(err)
			}
			if reply, err := pc.Receive(ctx); err != nil {
				t.Fatalf("setup with %s on the same connection: %v", tc.name, err)
			} else if _, ok := reply.(*protocol.SetupHopReply); !ok {
				t.Fatalf("got %T", reply)
			}
			if err := pc.Send(ctx, &protocol.Abort{SwapID: h.SwapID, Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			waitPhase(t, m, h.SwapID, swap.PhaseAbandoned)
		})
	}
}

// TestMakerReleasesReservationAfterDisconnect: a SetupHop reserves
// liquidity (held funding txs); a taker that disconnects before funding
// anything has it released once ReleaseAfterDisconnect has passed, not
// before and not only at the idle timeout.
func TestMakerReleasesReservationAfterDisconnect(t *testing.T) {
	const release = 300 * time.Millisecond
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{ReleaseAfterDisconnect: release, IdleTimeout: time.Minute})
	c := newClient(t, net, m)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	accepted0 := len(net.Chain.Accepted())
	liq0, n0, err := m.W.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.dial()
	h := c.setupHop(knobs{})
	if err := pc.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	reply, err := pc.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out int64
	for _, o := range reply.(*protocol.SetupHopReply).Outgoing {
		out += o.FundingValue
	}
	rec, err := m.Swap(ctx, h.SwapID)
	if err != nil || rec.Phase != swap.MakerReserved {
		t.Fatalf("after setup: %v, %v; want reserved", rec, err)
	}
	if want := swap.Forward(200_000, swap.MakerFee(swaptest.Terms, 200_000, 40), h.Reimbursement); out != want || rec.OutTotal != want {
		t.Fatalf("outgoing %d (record %d), want %d", out, rec.OutTotal, want)
	}
	liq, n, _ := m.W.Liquidity(ctx)
	if liq >= liq0 || n >= n0 {
		t.Fatalf("liquidity %d in %d coins after a reservation, was %d in %d", liq, n, liq0, n0)
	}
	// Connected and silent: the reservation holds for longer than the
	// release delay.
	time.Sleep(3 * release)
	if rec, _ := m.Swap(ctx, h.SwapID); rec.Phase != swap.MakerReserved {
		t.Fatalf("released while the taker is connected: %s", rec.Phase)
	}
	closed := time.Now()
	pc.Close()
	waitPhase(t, m, h.SwapID, swap.PhaseAbandoned)
	if took := time.Since(closed); took < release {
		t.Fatalf("released %v after the disconnect, before ReleaseAfterDisconnect %v", took, release)
	}
	if liq, n, _ := m.W.Liquidity(ctx); liq != liq0 || n != n0 {
		t.Fatalf("liquidity %d in %d coins after the release, want %d in %d", liq, n, liq0, n0)
	}
	if n := len(net.Chain.Accepted()) - accepted0; n != 0 {
		t.Fatalf("%d transactions broadcast", n)
	}
}

// TestMakerClaimsByHashlockWhenTakerBroadcastsContracts: once every hop
// is funded the taker broadcasts its contracts (fault
// taker:broadcast-contracts-after-setup) and recovers. The maker sees a
// contract of its swap on chain and recovers; the taker claims its
// incoming contracts by hashlock, the maker reads the preimage from that
// claim and claims its own incoming contracts by hashlock, long before
// the taker's timelock: exact balance, nothing refunded.
func TestMakerClaimsByHashlockWhenTakerBroadcastsContracts(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	tk, tw := net.NewTaker("taker", swaptest.Source(m), swaptest.TakerOpts{Faults: []string{swap.FaultTakerBroadcastContracts}})
	mb := swaptest.Spendable(t, m.W)
	net.AutoMine()
	_, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 1})
	if !errors.Is(err, swap.ErrFundedRecovering) {
		t.Fatalf("swap: %v, want ErrFundedRecovering", err)
	}
	start := net.Chain.Height()
	if err := tk.Recover(swaptest.Ctx(t, swaptest.Timeout)); err != nil {
		t.Fatal(err)
	}
	ss := swaptest.MakerFinal(t, m)
	net.StopMining()
	net.Mine(1, m.W, tw)
	if blocks := net.Chain.Height() - start; blocks >= int32(swap.DefaultLastHopLocktime) {
		t.Fatalf("recovery took %d blocks: not a hashlock race", blocks)
	}
	s := ss[0]
	if s.Phase != swap.PhaseRecovered || s.Preimage == nil {
		t.Fatalf("maker phase %s, preimage known %v", s.Phase, s.Preimage != nil)
	}
	var got int64
	for _, o := range s.In {
		if o.Status != swap.StatusClaimed {
			t.Fatalf("maker incoming %d %s, want claimed", o.Idx, o.Status)
		}
		claim, _ := net.Chain.Spender(o.ContractOutPoint())
		if claim == nil || claim.TxHash() != *o.ResolveTxid {
			t.Fatalf("incoming %d: the contract's spender is not the recorded claim", o.Idx)
		}
		if _, ok := script.PreimageFromWitness(claim.TxIn[0].Witness, s.Hash); !ok {
			t.Fatalf("incoming %d: claim without the preimage", o.Idx)
		}
		got += o.ContractValue() - net.Fee(*o.ResolveTxid)
	}
	var fundingFees int64
	for _, o := range s.Out {
		if o.Status != swap.StatusPeer {
			t.Fatalf("maker outgoing %d %s, want claimed by the taker", o.Idx, o.Status)
		}
		fundingFees += net.Fee(*o.FundingTxid)
	}
	if d, want := swaptest.Spendable(t, m.W)-mb, got-s.OutTotal-fundingFees; d != want {
		t.Fatalf("maker balance change %d, want %d", d, want)
	}
	if c, si := swaptest.Balance(t, m.W, wallet.Contract), swaptest.Balance(t, m.W, wallet.SwapIncoming); c != 0 || si != 0 {
		t.Fatalf("maker contract balance %d, swap-incoming %d", c, si)
	}
	if r := net.Chain.Refused(); len(r) != 0 {
		t.Fatalf("the chain refused %v: %v", r[0].Tx.TxHash(), r[0].Err)
	}
}

func waitPhase(t *testing.T, m *swaptest.Maker, id protocol.SwapID, want swap.Phase) {
	t.Helper()
	swaptest.Eventually(t, swaptest.Timeout, "maker swap "+string(want), func() (bool, string) {
		rec, err := m.Swap(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		return rec.Phase == want, string(rec.Phase)
	})
}

// TestMakerLiquidityLockBounded is the attack of issue 10 item 1 by a
// locker that owns coins (one without is refused: see the funding proof
// cases of TestMakerRefusesInvalidSetupHop): well formed SetupHops whose
// funding never comes, from several connections, each kept alive.
// Together they never hold more than MaxUnfundedPercent of the liquidity
// (beyond a single reservation), and each is released at
// UnfundedLifetime whatever the keep-alives say.
func TestMakerLiquidityLockBounded(t *testing.T) {
	const lifetime = 1500 * time.Millisecond
	net := swaptest.New(t)
	// 1,000,000 sat: each SetupHop reserves ~200,000.
	m := net.NewMaker("m", swaptest.MakerOpts{Coins: []int64{250_000, 250_000, 250_000, 250_000},
		IdleTimeout: time.Minute, ReleaseAfterDisconnect: time.Minute, UnfundedLifetime: lifetime})
	c := newClient(t, net, m)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	liq0, _, err := m.W.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var held []protocol.SwapID
	var refused *protocol.PeerError
	for i := 0; i < 5 && refused == nil; i++ {
		pc := c.dial()
		h := c.setupHop(knobs{})
		if err := pc.Send(ctx, h); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Receive(ctx); err != nil {
			if !errors.As(err, &refused) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, h.SwapID)
		// Keep-alives every 100 ms on every held reservation.
		go func() {
			for ctx.Err() == nil {
				if pc.Send(ctx, &protocol.WaitingFundingConfirmation{SwapID: h.SwapID}) != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	if refused == nil || refused.Code != protocol.CodeBusy {
		t.Fatalf("%d reservations for funding that never comes, then %v; want Busy", len(held), refused)
	}
	liq, _, _ := m.W.Liquidity(ctx)
	// At most half the liquidity, plus the overshoot of one reservation.
	if locked := liq0 - liq; locked > liq0*maker.DefaultMaxUnfundedPercent/100+liq0/4 {
		t.Fatalf("a locker holds %d of %d sat", locked, liq0)
	}
	t.Logf("%d reservations held %d of %d sat before the next was refused", len(held), liq0-liq, liq0)
	start := time.Now()
	for _, id := range held {
		waitPhase(t, m, id, swap.PhaseAbandoned)
	}
	if took := time.Since(start); took > lifetime+10*time.Second {
		t.Fatalf("released after %s", took)
	}
	if liq, _, _ := m.W.Liquidity(ctx); liq != liq0 {
		t.Fatalf("liquidity %d after the deadline, want %d", liq, liq0)
	}
}

// TestMakerFundingProofCoinsBackOneReservation: locking a maker's coins
// takes as many of one's own. The coins behind one reservation's funding
// proofs cannot back a second one while the first waits for its funding,
// and once they move elsewhere the reservation is released at the next
// recovery pass, not at the unfunded deadline.
func TestMakerFundingProofCoinsBackOneReservation(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{IdleTimeout: time.Minute, ReleaseAfterDisconnect: time.Minute})
	c := newClient(t, net, m)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	liq0, _, err := m.W.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.dial()
	h := c.setupHop(knobs{})
	if err := pc.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Receive(ctx); err != nil {
		t.Fatalf("first reservation: %v", err)
	}
	coins, keys := c.lastCoins, c.lastKeys

	// The same coins, other funding txs (new 2-of-2s), another swap id.
	pc2 := c.dial()
	if err := pc2.Send(ctx, c.setupHop(knobs{coins: coins, coinKeys: keys})); err != nil {
		t.Fatal(err)
	}
	_, err = pc2.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidRequest {
		t.Fatalf("coins reused for a second reservation: %v", err)
	}
	t.Logf("reuse refused: %v", pe)

	// The locker moves one coin: the reservation goes at once.
	spend := wire.NewMsgTx(2)
	spend.AddTxIn(wire.NewTxIn(&coins[0], nil, nil))
	prev, _, err := net.Chain.UTXO(ctx, coins[0])
	if err != nil {
		t.Fatal(err)
	}
	spend.AddTxOut(wire.NewTxOut(prev.Value-1_000, prev.PkScript))
	sig, err := script.SignInput(spend, 0, nil, prev.Value, prev.PkScript, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	spend.TxIn[0].Witness = script.P2WPKHWitness(sig, keys[0].PubKey())
	if _, err := net.Chain.Broadcast(ctx, spend); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, m, h.SwapID, swap.PhaseAbandoned)
	if liq, _, _ := m.W.Liquidity(ctx); liq != liq0 {
		t.Fatalf("liquidity %d after the coins moved, want %d", liq, liq0)
	}
}
