package coinjoin

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/curve25519"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// The output shuffle (CoinShuffle, Ruffing et al. 2014): the pass of seed
// 002's CoinJoin from peer to peer, each step encrypted to the peers after
// it, so that no peer, and no set of peers short of all the others, can
// tell which output belongs to which participant.
//
// The participants are in an agreed order (position 0 … n−1). Each wraps
// its output in layers for the peers after it, the innermost for the
// last one. Peer 0 sends its wrapped output to peer 1; peer j removes its
// layer from every entry it received, adds its own wrapped output,
// shuffles, and passes the list on. Every entry of a list has as many
// layers left as every other, so all have one length: nothing but the
// content tells them apart, and only the later peers' keys open it. The
// last peer removes the last layer and has every output in clear, in an
// order nobody chose alone. Every pass (protocol.CJPass) is signed by its
// sender's round key and sent to every participant.
//
// A participant whose output is missing from the last list, or that
// cannot open an entry, starts a blame: everyone reveals its round
// encryption key (fresh for the round, so revealing it costs nothing),
// and anyone can replay the passes and find the first peer that did not
// do its step (Blame) — the seed's "attack complaint". The round then
// starts again without that peer.

// shuffleInfo separates the shuffle's boxes from any other sealbox use.
const shuffleInfo = "onionswap/coinjoin-shuffle/v1"

// OutputLen: every output is a P2WPKH script, so every wrapped entry of a
// step has the same length.
const OutputLen = script.P2WPKHPkScriptLen

// layerLen is what one layer adds: the ephemeral key and the AEAD tag.
const layerLen = sealbox.KeySize + sealbox.Overhead

// ShufflePeer is one participant's round keys: Sign (x-only, BIP340)
// signs its passes, Enc (X25519) receives its layers.
type ShufflePeer struct {
	Sign [32]byte
	Enc  [32]byte
}

// Errors of the shuffle.
var (
	ErrShuffle = errors.New("coinjoin: shuffle step refused")
	ErrBlame   = errors.New("coinjoin: blame replay impossible")
)

// EntryLen is the length of every entry of the pass position pos sends
// in a shuffle of n.
func EntryLen(n, pos int) int { return OutputLen + layerLen*(n-1-pos) }

func layerAD(round [32]byte, pos int) []byte {
	ad := make([]byte, 0, 34)
	ad = append(ad, round[:]...)
	return binary.BigEndian.AppendUint16(ad, uint16(pos))
}

// Wrap encrypts the output of the participant at pos in layers for the
// peers after it, the innermost for the last: what it adds to the list.
func Wrap(round [32]byte, peers []ShufflePeer, pos int, output []byte) ([]byte, error) {
	if len(output) != OutputLen {
		return nil, fmt.Errorf("%w: output of %d bytes", ErrShuffle, len(output))
	}
	c := bytes.Clone(output)
	for j := len(peers) - 1; j > pos; j-- {
		eph, ct, _, err := sealbox.Seal(c, peers[j].Enc, shuffleInfo, layerAD(round, j))
		if err != nil {
			return nil, err
		}
		c = append(eph[:], ct...)
	}
	return c, nil
}

// peelOne removes pos's layer from one entry.
func peelOne(round [32]byte, pub, priv [32]byte, pos int, e []byte) ([]byte, error) {
	if len(e) < layerLen {
		return nil, sealbox.ErrOpen
	}
	var eph [sealbox.KeySize]byte
	copy(eph[:], e)
	plain, _, err := sealbox.Open(eph, e[sealbox.KeySize:], priv, pub, shuffleInfo, layerAD(round, pos))
	return plain, err
}

// Peel removes pos's layer from every entry of in (the pass pos−1 sent),
// checking that each has the length of its step and that none repeats.
func Peel(round [32]byte, peers []ShufflePeer, pos int, priv [32]byte, in [][]byte) ([][]byte, error) {
	if len(in) != pos {
		return nil, fmt.Errorf("%w: %d entries reach position %d", ErrShuffle, len(in), pos)
	}
	want := EntryLen(len(peers), pos-1)
	seen := map[string]bool{}
	out := make([][]byte, len(in))
	for i, e := range in {
		if len(e) != want || seen[string(e)] {
			return nil, fmt.Errorf("%w: entry %d: %d bytes (want %d) or repeated", ErrShuffle, i, len(e), want)
		}
		seen[string(e)] = true
		p, err := peelOne(round, peers[pos].Enc, priv, pos, e)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d does not open: %w", ErrShuffle, i, err)
		}
		out[i] = p
	}
	return out, nil
}

// Step is what the participant at pos does with the pass it received
// (nil at position 0): peel, add its wrapped output, shuffle.
func Step(round [32]byte, peers []ShufflePeer, pos int, priv [32]byte, in [][]byte, wrapped []byte) ([][]byte, error) {
	var peeled [][]byte
	if pos > 0 {
		var err error
		if peeled, err = Peel(round, peers, pos, priv, in); err != nil {
			return nil, err
		}
	}
	if len(wrapped) != EntryLen(len(peers), pos) {
		return nil, fmt.Errorf("%w: our entry has %d bytes", ErrShuffle, len(wrapped))
	}
	out := append(peeled, wrapped)
	return shuffled(out)
}

// shuffled is a uniformly random permutation (Fisher–Yates, crypto/rand).
func shuffled(s [][]byte) ([][]byte, error) {
	for i := len(s) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return nil, err
		}
		s[i], s[j.Int64()] = s[j.Int64()], s[i]
	}
	return s, nil
}

// Outputs checks the last pass of a shuffle of n: n distinct P2WPKH
// outputs, in clear.
func Outputs(last [][]byte, n int) ([][]byte, error) {
	if len(last) != n {
		return nil, fmt.Errorf("%w: %d outputs for %d participants", ErrShuffle, len(last), n)
	}
	seen := map[string]bool{}
	for _, o := range last {
		if !isP2WPKH(o) || seen[string(o)] {
			return nil, fmt.Errorf("%w: an output is not P2WPKH or repeats", ErrShuffle)
		}
		seen[string(o)] = true
	}
	return last, nil
}

// Blame replays a failed shuffle from every pass (passes[j]: what position
// j sent, nil if it sent nothing) and every participant's revealed
// encryption key (revealed[j]; all zero if it revealed nothing), and
// returns the position of the first participant that did not do its
// step: sent no pass or a badly signed one, revealed no key or a wrong
// one, or sent a list that is not its predecessor's peeled list plus one
// entry of its own that opens, layer by layer, to a P2WPKH output that no
// one else's entry opens to. It returns −1 when every step was right.
func Blame(round [32]byte, peers []ShufflePeer, passes []*protocol.CJPass, revealed [][32]byte) (int, error) {
	n := len(peers)
	if len(passes) != n || len(revealed) != n {
		return 0, fmt.Errorf("%w: %d passes and %d keys for %d participants", ErrBlame, len(passes), len(revealed), n)
	}
	for j := range n {
		pub, err := curve25519.X25519(revealed[j][:], curve25519.Basepoint)
		if err != nil || !bytes.Equal(pub, peers[j].Enc[:]) {
			return j, nil
		}
	}
	outputs := map[string]int{} // an added entry's output → who added it
	var prev [][]byte
	for j := range n {
		p := passes[j]
		if p == nil || p.Round != round || int(p.Step) != j || p.Verify(peers[j].Sign) != nil {
			return j, nil
		}
		var peeled [][]byte
		var err error
		if j > 0 {
			// Every entry of prev opens: it was checked when it was added.
			if peeled, err = Peel(round, peers, j, revealed[j], prev); err != nil {
				return 0, fmt.Errorf("%w: step %d: %w", ErrBlame, j, err)
			}
		}
		added, ok := oneMore(peeled, p.Entries)
		if !ok || len(added) != EntryLen(n, j) {
			return j, nil
		}
		out := added
		for k := j + 1; k < n && err == nil; k++ {
			out, err = peelOne(round, peers[k].Enc, revealed[k], k, out)
		}
		if err != nil || !isP2WPKH(out) {
			return j, nil
		}
		if _, dup := outputs[string(out)]; dup {
			return j, nil
		}
		outputs[string(out)] = j
		prev = p.Entries
	}
	return -1, nil
}

// oneMore reports whether list is base plus exactly one entry (as
// multisets), and returns that entry.
func oneMore(base, list [][]byte) ([]byte, bool) {
	if len(list) != len(base)+1 {
		return nil, false
	}
	count := map[string]int{}
	for _, e := range base {
		count[string(e)]++
	}
	var extra []byte
	for _, e := range list {
		if count[string(e)] > 0 {
			count[string(e)]--
			continue
		}
		if extra != nil {
			return nil, false
		}
		extra = e
	}
	return extra, extra != nil
}
