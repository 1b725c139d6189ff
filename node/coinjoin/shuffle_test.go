package coinjoin

import (
	"bytes"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// shuffler is one participant of a test shuffle.
type shuffler struct {
	sign   *btcec.PrivateKey
	enc    sealbox.Key
	output []byte
}

func newShuffle(t *testing.T, n int) ([32]byte, []ShufflePeer, []shuffler) {
	t.Helper()
	var round [32]byte
	round[0] = 7
	ss := make([]shuffler, n)
	peers := make([]ShufflePeer, n)
	for i := range ss {
		sk, _ := btcec.NewPrivateKey()
		ek, err := sealbox.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		ok, _ := btcec.NewPrivateKey()
		ss[i] = shuffler{sign: sk, enc: ek, output: script.P2WPKHPkScript(ok.PubKey())}
		copy(peers[i].Sign[:], schnorr.SerializePubKey(sk.PubKey()))
		peers[i].Enc = ek.Pub
	}
	return round, peers, ss
}

// cheat changes what position pos sends (nil: honest).
type cheat func(pos int, own []byte, list [][]byte) [][]byte

// run plays the shuffle; every pass is signed and kept. With a cheat, an
// honest peer that cannot do its step (it received a spoilt list) stops
// the pass there, sending empty passes from it on, and Blame must still
// find the one before it that spoilt the list, whose pass is signed.
func run(t *testing.T, round [32]byte, peers []ShufflePeer, ss []shuffler, c cheat) []*protocol.CJPass {
	t.Helper()
	passes := make([]*protocol.CJPass, len(ss))
	var prev [][]byte
	for j, s := range ss {
		w, err := Wrap(round, peers, j, s.output)
		if err != nil {
			t.Fatal(err)
		}
		list, err := Step(round, peers, j, s.enc.Priv, prev, w)
		if err != nil && c == nil {
			t.Fatalf("step %d: %v", j, err)
		}
		if err != nil {
			for k := j; k < len(ss); k++ {
				q := &protocol.CJPass{Round: round, Step: uint16(k)}
				_ = q.Sign(ss[k].sign) // an empty pass does not encode: unsigned
				passes[k] = q
			}
			return passes
		}
		for _, e := range list {
			if len(e) != EntryLen(len(ss), j) {
				t.Fatalf("step %d: an entry of %d bytes, want %d: entries must look alike", j, len(e), EntryLen(len(ss), j))
			}
		}
		if c != nil {
			list = c(j, w, list)
		}
		p := &protocol.CJPass{Round: round, Step: uint16(j), Entries: list}
		if err := p.Sign(s.sign); err != nil {
			t.Fatal(err)
		}
		passes[j], prev = p, list
	}
	return passes
}

func revealAll(ss []shuffler) [][32]byte {
	r := make([][32]byte, len(ss))
	for i, s := range ss {
		r[i] = s.enc.Priv
	}
	return r
}

func TestShuffleHonest(t *testing.T) {
	if OutputLen != protocol.CJOutputLen || layerLen != protocol.CJLayerLen {
		t.Fatalf("the shuffle's entry sizes (%d, %d) are not the wire's (%d, %d)", OutputLen, layerLen, protocol.CJOutputLen, protocol.CJLayerLen)
	}
	round, peers, ss := newShuffle(t, 5)
	passes := run(t, round, peers, ss, nil)
	outs, err := Outputs(passes[4].Entries, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if !slices.ContainsFunc(outs, func(o []byte) bool { return bytes.Equal(o, s.output) }) {
			t.Fatal("an output is missing")
		}
	}
	for j, p := range passes {
		if err := p.Verify(peers[j].Sign); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := Blame(round, peers, passes, revealAll(ss)); err != nil || b != -1 {
		t.Fatalf("an honest shuffle blames %d (%v)", b, err)
	}
}

// TestShuffleBlame: every way a peer can spoil the shuffle is pinned on
// it once the keys are revealed, whatever its position.
func TestShuffleBlame(t *testing.T) {
	const n = 5
	round, peers, ss := newShuffle(t, n)
	other, _ := btcec.NewPrivateKey()
	for _, tc := range []struct {
		name    string
		culprit int
		cheat   cheat
		mod     func(passes []*protocol.CJPass, keys [][32]byte)
	}{
		{"drops an entry for a second one of its own", 2, func(pos int, own []byte, l [][]byte) [][]byte {
			if pos == 2 {
				w, _ := Wrap(round, peers, 2, script.P2WPKHPkScript(other.PubKey()))
				l[notOwn(l, own)] = w
			}
			return l
		}, nil},
		{"the last one swaps an output for its own", n - 1, func(pos int, own []byte, l [][]byte) [][]byte {
			if pos == n-1 {
				l[notOwn(l, own)] = script.P2WPKHPkScript(other.PubKey())
			}
			return l
		}, nil},
		{"adds an entry that does not open", 1, func(pos int, _ []byte, l [][]byte) [][]byte {
			if pos == 1 {
				l[len(l)-1] = make([]byte, EntryLen(n, 1)) // its own or the carried one: junk either way
			}
			return l
		}, nil},
		{"duplicates an entry", 3, func(pos int, _ []byte, l [][]byte) [][]byte {
			if pos == 3 {
				l[0] = bytes.Clone(l[1])
			}
			return l
		}, nil},
		{"sends no pass", 2, nil, func(passes []*protocol.CJPass, _ [][32]byte) { passes[2] = nil }},
		{"a pass signed by someone else", 1, nil, func(passes []*protocol.CJPass, _ [][32]byte) { _ = passes[1].Sign(other) }},
		{"reveals a wrong key", 4, nil, func(_ []*protocol.CJPass, keys [][32]byte) { keys[4][5] ^= 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passes := run(t, round, peers, ss, tc.cheat)
			keys := revealAll(ss)
			if tc.mod != nil {
				tc.mod(passes, keys)
			}
			b, err := Blame(round, peers, passes, keys)
			if err != nil || b != tc.culprit {
				t.Fatalf("blamed %d (%v), want %d", b, err, tc.culprit)
			}
		})
	}
}

func TestWrapPeel(t *testing.T) {
	round, peers, ss := newShuffle(t, 4)
	w, err := Wrap(round, peers, 0, ss[0].output)
	if err != nil {
		t.Fatal(err)
	}
	// Only the right key, at the right position, in the right round opens
	// a layer.
	if _, err := Peel(round, peers, 1, ss[2].enc.Priv, [][]byte{w}); err == nil {
		t.Fatal("another peer's key opened the layer")
	}
	other := round
	other[0]++
	if _, err := Peel(other, peers, 1, ss[1].enc.Priv, [][]byte{w}); err == nil {
		t.Fatal("the layer opened in another round")
	}
	// Layer by layer, the output comes out at the last peer.
	e := w
	for j := 1; j < 4; j++ {
		if len(e) != EntryLen(4, j-1) {
			t.Fatalf("before step %d: %d bytes", j, len(e))
		}
		if e, err = peelOne(round, peers[j].Enc, ss[j].enc.Priv, j, e); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(e, ss[0].output) {
		t.Fatal("the output did not come out of its layers")
	}
	if _, err := Wrap(round, peers, 0, []byte{1, 2}); err == nil {
		t.Fatal("an output of another length was wrapped")
	}
}

// notOwn is the index of an entry of l that is not own.
func notOwn(l [][]byte, own []byte) int {
	for i, e := range l {
		if !bytes.Equal(e, own) {
			return i
		}
	}
	return -1
}
