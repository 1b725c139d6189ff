package coinjoin

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/protocol"
)

// testInvite: a signed invite of n fresh peers (keys returned), the
// initiator at position 0.
func testInvite(t *testing.T, n int) (*protocol.CJInvite, []*btcec.PrivateKey, []sealbox.Key) {
	t.Helper()
	inv := &protocol.CJInvite{Denomination: testDenom, FeeRate: testFee, T: uint8(n), Deadline: uint64(time.Now().Add(time.Hour).Unix())}
	var signs []*btcec.PrivateKey
	var encs []sealbox.Key
	for i := range n {
		k := newKey(t)
		e, err := sealbox.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		signs, encs = append(signs, k), append(encs, e)
		inv.Peers = append(inv.Peers, protocol.CJPeer{SignKey: xonly(k), EncKey: e.Pub, Contact: "127.0.0.1:" + string(rune('1'+i))})
	}
	inv.Round = inv.RoundID()
	if err := inv.Sign(signs[0]); err != nil {
		t.Fatal(err)
	}
	return inv, signs, encs
}

// TestTakeBeforeConfirmation: a pass of the confirmed round that reaches
// us before the initiator's confirmation (another stream was faster) is
// kept for the confirmed round, even when the confirmation keeps everyone
// and so the round's id; a message signed for another round marks its
// sender bad; a late stream's accept is not held against it.
func TestTakeBeforeConfirmation(t *testing.T) {
	inv, signs, encs := testInvite(t, 3)
	r := newRound(roundConfig{invite: inv, me: 2, init: 0, sign: signs[2], enc: encs[2].Priv, log: slog.New(slog.DiscardHandler)})
	pass := &protocol.CJPass{Round: inv.Round, Step: 0, Entries: [][]byte{make([]byte, EntryLen(3, 0))}}
	if err := pass.Sign(signs[0]); err != nil {
		t.Fatal(err)
	}
	r.take(inMsg{key: xonly(signs[0]), msg: pass})
	if r.passes[0] != nil || len(r.later) != 1 {
		t.Fatalf("a pass before the confirmation was taken at once (%v) or dropped (%d later)", r.passes[0] != nil, len(r.later))
	}
	if err := r.rekey(inv); err != nil { // the confirmation kept everyone: same id
		t.Fatal(err)
	}
	if r.passes[0] == nil {
		t.Fatal("the early pass was lost at the confirmation")
	}
	acc := &protocol.CJAccept{Round: [32]byte{1}}
	if err := acc.Sign(signs[1]); err != nil {
		t.Fatal(err)
	}
	r.take(inMsg{key: xonly(signs[1]), msg: acc})
	if r.bad[1] != "" {
		t.Fatalf("a late accept marked its sender: %s", r.bad[1])
	}
	other := &protocol.CJReady{Round: [32]byte{9}}
	if err := other.Sign(signs[1]); err != nil {
		t.Fatal(err)
	}
	r.take(inMsg{key: xonly(signs[1]), msg: other})
	if r.bad[1] == "" {
		t.Fatal("a message for another round was accepted")
	}
	forged := &protocol.CJReady{Round: inv.Round}
	if err := forged.Sign(signs[0]); err != nil { // peer 0's key, said to come from 1
		t.Fatal(err)
	}
	r.take(inMsg{key: xonly(signs[1]), msg: forged})
	if r.readies[1] != nil {
		t.Fatal("a ready signed by another key was taken")
	}
}

// TestFalseComplaintBlamed: a participant complains of a shuffle that was
// right; the others reveal in answer; the replay is clean, so the
// complainer is blamed, and none of those that only answered.
func TestFalseComplaintBlamed(t *testing.T) {
	round, peers, ss := newShuffle(t, 4)
	passes := run(t, round, peers, ss, nil)
	inv := &protocol.CJInvite{Denomination: testDenom, FeeRate: testFee, T: 3, Deadline: uint64(time.Now().Add(time.Hour).Unix())}
	for i, p := range peers {
		inv.Peers = append(inv.Peers, protocol.CJPeer{SignKey: p.Sign, EncKey: p.Enc, Contact: "127.0.0.1:" + string(rune('1'+i))})
	}
	inv.Round = inv.RoundID()
	r := newRound(roundConfig{invite: inv, me: 0, init: 0, sign: ss[0].sign, enc: ss[0].enc.Priv, phase: time.Second, log: slog.New(slog.DiscardHandler)})
	r.id = round
	copy(r.passes, passes)
	r.reveals[2] = &protocol.CJBlame{Round: round, EncPriv: ss[2].enc.Priv, Reason: protocol.CJBlameMissingOutput}
	for _, i := range []int{1, 3} {
		r.reveals[i] = &protocol.CJBlame{Round: round, EncPriv: ss[i].enc.Priv, Reason: protocol.CJBlameAnswer}
	}
	_, blamed, err := r.blame(context.Background(), protocol.CJBlameAnswer)
	if err != nil {
		t.Fatal(err)
	}
	if len(blamed) != 1 || blamed[2] == "" {
		t.Fatalf("blamed %v, want the complainer (2) only", blamed)
	}
}

// TestRelayedInputs: an input the initiator relays counts as its owner's
// when the owner's round key signed it; one nobody in the round signed
// marks the initiator; an owner that signed two different inputs is
// marked, whichever way each came.
func TestRelayedInputs(t *testing.T) {
	inv, signs, encs := testInvite(t, 4)
	r := newRound(roundConfig{invite: inv, me: 3, init: 0, sign: signs[3], enc: encs[3].Priv, log: slog.New(slog.DiscardHandler)})
	input := func(signer *btcec.PrivateKey, vout uint32) *protocol.CJInput {
		in := &protocol.CJInput{Round: inv.Round, OutPoint: wire.OutPoint{Index: vout}, Value: testCoin,
			PkScript: append([]byte{0x00, 0x14}, make([]byte, 20)...)}
		if err := in.Sign(signer); err != nil {
			t.Fatal(err)
		}
		return in
	}
	fromInit := xonly(signs[0])
	r.take(inMsg{key: fromInit, msg: input(signs[0], 0)}) // the initiator's own
	r.take(inMsg{key: fromInit, msg: input(signs[1], 1)}) // peer 1's, relayed
	if r.inputs[0] == nil || r.inputs[1] == nil || r.inputs[1].OutPoint.Index != 1 || r.bad[0] != "" {
		t.Fatalf("inputs %v %v, bad %q", r.inputs[0], r.inputs[1], r.bad[0])
	}
	r.take(inMsg{key: xonly(signs[1]), msg: input(signs[1], 1)}) // the same, directly
	if r.bad[1] != "" {
		t.Fatalf("the same input twice marked its owner: %s", r.bad[1])
	}
	r.take(inMsg{key: xonly(signs[2]), msg: input(signs[2], 2)})
	r.take(inMsg{key: fromInit, msg: input(signs[2], 7)}) // peer 2 signed another
	if r.bad[2] == "" || r.bad[0] != "" {
		t.Fatalf("two inputs of one owner: bad[2] %q, bad[0] %q", r.bad[2], r.bad[0])
	}
	r.take(inMsg{key: fromInit, msg: input(newKey(t), 9)})
	if r.bad[0] == "" {
		t.Fatal("an input no participant signed was taken")
	}
}
