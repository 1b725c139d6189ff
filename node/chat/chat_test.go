package chat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
)

func newBed(t *testing.T, names ...string) []*testNode {
	n := &testNet{addrs: map[string]string{}}
	p := newTestPool(t)
	out := make([]*testNode, len(names))
	for i, name := range names {
		out[i] = newTestNode(t, n, p, name)
	}
	return out
}

func send(t *testing.T, from *testNode, to, text string) SendReply {
	t.Helper()
	rep, err := from.svc.Send(context.Background(), SendRequest{To: to, Text: text})
	if err != nil {
		t.Fatalf("%s send: %v", from.name, err)
	}
	return rep
}

// state is the state of our message seq in the conversation with peer.
func state(t *testing.T, n *testNode, peer string, seq uint64) string {
	h, err := n.svc.History(context.Background(), HistoryRequest{Peer: peer})
	if err != nil {
		return err.Error()
	}
	return h.OutState(seq)
}

func texts(t *testing.T, n *testNode, peer string, read bool) []string {
	t.Helper()
	h, err := n.svc.History(context.Background(), HistoryRequest{Peer: peer, MarkRead: read})
	if err != nil {
		return nil
	}
	return h.Received()
}

func TestDirectBothWays(t *testing.T) {
	ns := newBed(t, "alice", "bob")
	a, b := ns[0], ns[1]
	rep := send(t, a, b.addr, "hello bob")
	if rep.Peer != b.id() || rep.State != "delivered" {
		t.Fatalf("first contact by onion: %+v", rep)
	}
	if got := texts(t, b, a.id(), false); strings.Join(got, "|") != "hello bob" {
		t.Fatalf("bob has %q", got)
	}
	if n := b.svc.Unread(context.Background()); n != 1 {
		t.Fatalf("bob unread %d", n)
	}
	// Bob answers in the same conversation, learned from Alice's message.
	rep2 := send(t, b, rep.Conversation, "hi alice")
	if rep2.State != "delivered" || rep2.Conversation != rep.Conversation {
		t.Fatalf("reply: %+v", rep2)
	}
	if got := texts(t, a, b.id(), true); strings.Join(got, "|") != "hi alice" {
		t.Fatalf("alice has %q", got)
	}
	// Bob reads: Alice sees "read" once the receipt arrives.
	texts(t, b, a.id(), true)
	testutil.Eventually(t, 5*time.Second, "alice sees read", func() (bool, string) {
		s := state(t, a, b.id(), 1)
		return s == "read", s
	})
	if n := b.svc.Unread(context.Background()); n != 0 {
		t.Fatalf("bob unread after reading %d", n)
	}
}

// TestMailboxOffline: Bob is offline, Alice writes (the mailbox holds it)
// and goes offline too; Bob comes back, reads it from the pool, removes
// it from the mailbox, and his receipt reaches Alice when she is back.
func TestMailboxOffline(t *testing.T) {
	ns := newBed(t, "alice", "bob")
	a, b := ns[0], ns[1]
	send(t, a, b.addr, "first, while you are here")
	send(t, b, a.id(), "ack") // Bob has Alice's prekey, Alice has Bob's

	b.stop()
	rep := send(t, a, b.id(), "while you were away")
	if rep.State != "stored" {
		t.Fatalf("offline peer: %+v", rep)
	}
	// The message, and maybe Alice's receipt for "ack" if Bob left first.
	if n := len(a.pool.Messages(TopicMail)); n < 1 || n > 2 {
		t.Fatalf("mailbox holds %d", n)
	}
	a.stop()

	b.start()
	testutil.Eventually(t, 5*time.Second, "bob reads the mailbox", func() (bool, string) {
		got := texts(t, b, a.id(), false)
		return strings.Join(got, "|") == "first, while you are here|while you were away", strings.Join(got, "|")
	})
	a.start()
	testutil.Eventually(t, 10*time.Second, "alice learns it was delivered", func() (bool, string) {
		s := state(t, a, b.id(), 2)
		return s == "delivered", s
	})
	// Each read its mail and removed it: only tombstones are left.
	testutil.Eventually(t, 5*time.Second, "mailbox copies removed", func() (bool, string) {
		ms := b.pool.Messages(TopicMail)
		for _, m := range ms {
			if !m.Removal {
				return false, m.ID
			}
		}
		return len(ms) > 0, ""
	})
}

// TestRefusals: a tampered, replayed, misaddressed or forged message is
// refused and never shown twice; a flooding sender is limited.
func TestRefusals(t *testing.T) {
	ns := newBed(t, "alice", "bob", "carol")
	a, b, c := ns[0], ns[1], ns[2]
	ctx := context.Background()
	send(t, a, b.addr, "hello")
	send(t, b, a.id(), "hello back") // Alice now holds Bob's prekey
	ct, err := a.svc.st.contact(ctx, b.svc.me, time.Now())
	if err != nil || ct.prekey == nil {
		t.Fatalf("alice has no prekey of bob: %v", err)
	}
	mk := func(to [32]byte, seq uint64, text string) []byte {
		p := &protocol.ChatPlain{To: to, Kind: protocol.ChatKindText, Seq: seq, Sent: uint64(time.Now().Unix()), Text: text}
		if err := p.Sign(a.svc.key); err != nil {
			t.Fatal(err)
		}
		raw, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	sealTo := func(raw []byte) *protocol.ChatSealed {
		s, _, err := seal(raw, ct.prekey.Key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sealTo(mk(b.svc.me, 2, "second"))
	tampered := *good
	tampered.Ciphertext = append([]byte(nil), good.Ciphertext...)
	tampered.Ciphertext[3] ^= 1
	forgedRaw := mk(b.svc.me, 3, "forged")
	forgedRaw[len(forgedRaw)-1] ^= 1

	for _, tc := range []struct {
		name string
		s    *protocol.ChatSealed
		want error
	}{
		{"tampered", &tampered, ErrUndecryptable},
		{"misaddressed", sealTo(mk(c.svc.me, 2, "for carol")), ErrMisaddressed},
		{"forged", sealTo(forgedRaw), protocol.ErrChatSig},
		{"good", good, nil},
		{"replayed", good, nil}, // accepted as a duplicate: delivered once
	} {
		if _, err := b.svc.receive(ctx, tc.s, "direct"); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := texts(t, b, a.id(), false); strings.Join(got, "|") != "hello|second" {
		t.Fatalf("bob has %q", got)
	}
	st, _ := b.svc.Status(ctx)
	for _, k := range []string{"refused-undecryptable", "refused-misaddressed", "refused-forged", "duplicates"} {
		if st.Stats[k] != 1 {
			t.Errorf("stats %s = %d (%v)", k, st.Stats[k], st.Stats)
		}
	}

	// Flood: Carol's node sends 30 messages at once; Bob takes PeerBurst
	// and tells it to wait; Alice still gets through.
	send(t, c, b.addr, "carol here")
	for i := range 30 {
		if _, err := c.svc.Send(ctx, SendRequest{To: b.id(), Text: "spam " + string(rune('a'+i%26))}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(texts(t, b, c.id(), false)); got > PeerBurst+1 {
		t.Fatalf("bob took %d of carol's flood", got)
	}
	if rep := send(t, a, b.id(), "still here"); rep.State != "delivered" {
		t.Fatalf("alice during the flood: %+v", rep)
	}
	st, _ = b.svc.Status(ctx)
	if st.Stats["limited"] == 0 {
		t.Fatalf("no limit hit: %v", st.Stats)
	}
}

// TestOrder: messages arriving out of order are held and delivered in
// order once the gap fills.
func TestOrder(t *testing.T) {
	ns := newBed(t, "alice", "bob")
	a, b := ns[0], ns[1]
	ctx := context.Background()
	send(t, a, b.addr, "one")
	send(t, b, a.id(), "ok")
	ct, _ := a.svc.st.contact(ctx, b.svc.me, time.Now())
	sealed := func(seq uint64, text string) *protocol.ChatSealed {
		p := &protocol.ChatPlain{To: b.svc.me, Kind: protocol.ChatKindText, Seq: seq, Sent: uint64(time.Now().Unix()), Text: text}
		if err := p.Sign(a.svc.key); err != nil {
			t.Fatal(err)
		}
		raw, _ := p.Encode()
		s, _, err := seal(raw, ct.prekey.Key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, m := range []struct {
		seq  uint64
		text string
		want string
	}{{3, "three", "one"}, {4, "four", "one"}, {2, "two", "one|two|three|four"}} {
		if _, err := b.svc.receive(ctx, sealed(m.seq, m.text), "mailbox"); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(texts(t, b, a.id(), false), "|"); got != m.want {
			t.Fatalf("after %d: %q, want %q", m.seq, got, m.want)
		}
	}
}

func TestMailTopicChecks(t *testing.T) {
	k, _ := sealbox.NewKey()
	s, shared, err := seal([]byte("0123456789abcdef0123"), k.Pub)
	if err != nil {
		t.Fatal(err)
	}
	origin := mailOrigin(shared)
	var ox [32]byte
	copy(ox[:], origin.PubKey().SerializeCompressed()[1:])
	rcpt := RecipientHash([32]byte{1})
	mint(ox, rcpt, s, RegtestStampBits)
	body, _ := s.Encode()
	env := &protocol.PoolEnvelope{Flags: protocol.PoolFlagRecipient, Origin: ox, Recipient: rcpt, Body: body}
	if v, err := checkMail(env, RegtestStampBits); err != nil {
		t.Fatalf("good: %v %v", v, err)
	}
	other := *env
	other.Recipient = RecipientHash([32]byte{2}) // the stamp is bound to the recipient
	if _, err := checkMail(&other, RegtestStampBits); !errors.Is(err, ErrBadStamp) {
		t.Fatalf("moved: %v", err)
	}
	if _, err := checkMail(env, 40); !errors.Is(err, ErrBadStamp) {
		t.Fatalf("hard: %v", err)
	}
	none := *env
	none.Flags = 0
	if _, err := checkMail(&none, RegtestStampBits); !errors.Is(err, errNoRecipient) {
		t.Fatalf("no recipient: %v", err)
	}
}

// TestStrangerCap: peers we never wrote to may leave StrangerUnread
// unread messages in all; a peer we write to is not held to it, and
// reading makes room.
func TestStrangerCap(t *testing.T) {
	ns := newBed(t, "alice", "bob", "carol", "dave")
	a, b, c, d := ns[0], ns[1], ns[2], ns[3]
	b.stop()
	b.mod = func(cfg *Config) { cfg.StrangerUnread = 3 }
	b.start()
	ctx := context.Background()
	send(t, b, a.addr, "bob writes to alice first") // alice is no stranger
	for _, m := range []struct {
		from *testNode
		text string
		want string
	}{
		{c, "c1", "delivered"}, {c, "c2", "delivered"}, {d, "d1", "delivered"},
		{d, "d2", "not delivered"}, // three unread from strangers: no room
		{a, "a1", "delivered"},
	} {
		rep := send(t, m.from, b.addr, m.text)
		if got := rep.State; got != m.want && !(m.want == "not delivered" && (got == "sent" || got == "stored")) {
			t.Fatalf("%s %q: %+v, want %s", m.from.name, m.text, rep, m.want)
		}
	}
	st, _ := b.svc.Status(ctx)
	if st.Stats["refused-strangers-full"] == 0 {
		t.Fatalf("stats %v", st.Stats)
	}
	// Reading carol's two makes room: dave's second, refused on the
	// stream, went to the mailbox (bob's receipt gave dave his prekey)
	// and is taken from there.
	texts(t, b, c.id(), true)
	testutil.Eventually(t, 15*time.Second, "dave's second message delivered", func() (bool, string) {
		got := strings.Join(texts(t, b, d.id(), false), "|")
		return got == "d1|d2", got
	})
}

// TestSwapConversation: a message about a swap is in the swap's
// conversation on both sides, under the id the peer knows the swap by.
func TestSwapConversation(t *testing.T) {
	ns := newBed(t, "taker", "maker")
	tk, mk := ns[0], ns[1]
	const takerID, legID = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
	tk.stop()
	tk.mod = func(cfg *Config) {
		cfg.SwapLeg = func(_ context.Context, id, addr string) (string, bool) {
			return legID, id == takerID && addr == mk.addr
		}
	}
	tk.start()
	send(t, tk, mk.addr, "hello") // a first contact: the maker's address is known now
	rep, err := tk.svc.Send(context.Background(), SendRequest{To: mk.addr, Text: "about our swap", Swap: takerID})
	if err != nil || rep.State != "delivered" {
		t.Fatalf("%+v %v", rep, err)
	}
	for _, n := range []*testNode{tk, mk} {
		h, err := n.svc.History(context.Background(), HistoryRequest{Peer: rep.Conversation})
		if err != nil || h.Context != "swap "+legID {
			t.Fatalf("%s: %+v %v", n.name, h.Conversation, err)
		}
	}
	if _, err := tk.svc.Send(context.Background(), SendRequest{To: mk.addr, Text: "x", Swap: "nothex"}); err == nil {
		t.Fatal("a malformed swap id was taken")
	}
}

// TestSilenced: a blacklisted sender's messages are dropped unread (its
// node is told they were stored, so it stops trying) and its mailbox mail
// leaves the pool.
func TestSilenced(t *testing.T) {
	ns := newBed(t, "alice", "bob", "carol")
	a, b, c := ns[0], ns[1], ns[2]
	b.stop()
	b.mod = func(cfg *Config) {
		cfg.Silenced = func(_ context.Context, id [protocol.XOnlyKeySize]byte) (string, bool) {
			return "origin listed: spam", hexOf(id[:]) == c.id()
		}
	}
	b.start()
	send(t, c, b.addr, "buy my coins")
	send(t, a, b.addr, "hello")
	if got := texts(t, b, c.id(), false); len(got) != 0 {
		t.Fatalf("bob shows carol's %q", got)
	}
	if got := texts(t, b, a.id(), false); strings.Join(got, "|") != "hello" {
		t.Fatalf("bob has alice's %q", got)
	}
	st, _ := b.svc.Status(context.Background())
	if st.Stats["silenced"] != 1 {
		t.Fatalf("stats %v", st.Stats)
	}
}

// TestQueueQuota: at most MaxPendingOut undelivered messages to one peer.
func TestQueueQuota(t *testing.T) {
	ns := newBed(t, "alice", "bob")
	a, b := ns[0], ns[1]
	send(t, a, b.addr, "hello")
	b.stop()
	for i := range MaxPendingOut {
		if _, err := a.svc.Send(context.Background(), SendRequest{To: b.id(), Text: "queued " + strconv.Itoa(i)}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := a.svc.Send(context.Background(), SendRequest{To: b.id(), Text: "one too many"}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("beyond the quota: %v", err)
	}
}

// TestResumeAfterRestart: a message persisted while its peer was
// unreachable (no address, no key: "sent") is delivered by the sender's
// outbox after the sender restarts and the peer is back.
func TestResumeAfterRestart(t *testing.T) {
	ns := newBed(t, "alice", "bob")
	a, b := ns[0], ns[1]
	a.stop()
	a.mod = func(cfg *Config) { cfg.Pool = nil } // no mailbox: only direct delivery
	a.start()
	send(t, a, b.addr, "hello")
	b.stop()
	rep := send(t, a, b.id(), "are you there?")
	if rep.State != "sent" {
		t.Fatalf("no way to bob yet: %+v", rep)
	}
	a.stop()
	a.start()
	b.start()
	testutil.Eventually(t, 10*time.Second, "delivered after both restarted", func() (bool, string) {
		s := state(t, a, b.id(), rep.Seq)
		return s == "delivered", s
	})
	if got := strings.Join(texts(t, b, a.id(), false), "|"); got != "hello|are you there?" {
		t.Fatalf("bob has %q", got)
	}
}
