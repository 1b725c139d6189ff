package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

// Errors returned by mnemonic parsing. They name word positions, never words.
var (
	ErrMnemonicLength   = errors.New("mnemonic must have 12, 15, 18, 21 or 24 words")
	ErrUnknownWord      = errors.New("word is not in the BIP39 English list")
	ErrMnemonicChecksum = errors.New("mnemonic checksum does not match (a word is wrong or out of order)")
	ErrNonASCII         = errors.New("only ASCII is supported (English BIP39); NFKD normalisation of other scripts is not implemented")
	ErrEntropyLength    = errors.New("entropy must be 16, 20, 24, 28 or 32 bytes")
)

// seedIterations and seedSaltPrefix are fixed by BIP39.
const (
	seedIterations = 2048
	seedSaltPrefix = "mnemonic"
	// SeedLen is the length of a BIP39 seed (PBKDF2-HMAC-SHA512 output).
	SeedLen = 64
)

// Mnemonic is a BIP39 phrase in canonical form (lower case, single spaces).
// It prints as "[redacted]" so it cannot leak through fmt or slog by
// accident; call Words for the phrase.
type Mnemonic struct{ phrase string }

// Words returns the phrase. Only call it to show the words to the user.
func (m Mnemonic) Words() string { return m.phrase }

// String redacts the phrase.
func (m Mnemonic) String() string { return "[redacted mnemonic]" }

// GoString redacts the phrase for %#v.
func (m Mnemonic) GoString() string { return m.String() }

// LogValue redacts the phrase in log/slog output.
func (m Mnemonic) LogValue() slog.Value { return slog.StringValue(m.String()) }

// WordCount is the number of words.
func (m Mnemonic) WordCount() int { return len(strings.Fields(m.phrase)) }

// NewMnemonic draws fresh entropy from crypto/rand for a 12- or 24-word phrase.
func NewMnemonic(wordCount int) (Mnemonic, error) {
	var n int
	switch wordCount {
	case 12:
		n = 16
	case 24:
		n = 32
	default:
		return Mnemonic{}, fmt.Errorf("new mnemonic: %d words: only 12 or 24 are offered", wordCount)
	}
	ent := make([]byte, n)
	if _, err := rand.Read(ent); err != nil {
		return Mnemonic{}, fmt.Errorf("new mnemonic: %w", err)
	}
	defer clear(ent)
	return EntropyToMnemonic(ent)
}

// EntropyToMnemonic encodes entropy (16..32 bytes, a multiple of 4) as words.
func EntropyToMnemonic(ent []byte) (Mnemonic, error) {
	if len(ent) < 16 || len(ent) > 32 || len(ent)%4 != 0 {
		return Mnemonic{}, ErrEntropyLength
	}
	csBits := len(ent) * 8 / 32
	sum := sha256.Sum256(ent)
	// data = entropy || checksum byte; bits are read MSB first.
	data := append(append(make([]byte, 0, len(ent)+1), ent...), sum[0])
	defer clear(data)
	nWords := (len(ent)*8 + csBits) / 11
	out := make([]string, nWords)
	for i := range nWords {
		var idx int
		for b := range 11 {
			pos := i*11 + b
			bit := (data[pos/8] >> (7 - uint(pos%8))) & 1
			idx = idx<<1 | int(bit)
		}
		out[i] = words[idx]
	}
	return Mnemonic{phrase: strings.Join(out, " ")}, nil
}

// ParseMnemonic canonicalises (ASCII only, lower case, runs of whitespace
// collapsed to one space) and validates a phrase: word count, word list and
// checksum. Lower-casing is safe because every list word is lower case, so
// the canonical phrase is the one any BIP39 wallet derives the seed from.
func ParseMnemonic(s string) (Mnemonic, error) {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return Mnemonic{}, ErrNonASCII
		}
	}
	ws := strings.Fields(strings.ToLower(s))
	switch len(ws) {
	case 12, 15, 18, 21, 24:
	default:
		return Mnemonic{}, fmt.Errorf("%w (got %d)", ErrMnemonicLength, len(ws))
	}
	data, entBytes, err := unpackWords(ws)
	if err != nil {
		return Mnemonic{}, err
	}
	defer clear(data)
	csBits := len(ws) * 11 / 33
	sum := sha256.Sum256(data[:entBytes])
	want := sum[0] >> (8 - uint(csBits))
	got := data[entBytes] >> (8 - uint(csBits))
	if want != got {
		return Mnemonic{}, ErrMnemonicChecksum
	}
	return Mnemonic{phrase: strings.Join(ws, " ")}, nil
}

// ValidateMnemonic reports whether s is a valid English BIP39 phrase.
func ValidateMnemonic(s string) error {
	_, err := ParseMnemonic(s)
	return err
}

// Entropy returns the entropy the phrase encodes. The caller must clear it.
func (m Mnemonic) Entropy() ([]byte, error) {
	ws := strings.Fields(m.phrase)
	if len(ws) == 0 {
		return nil, ErrMnemonicLength
	}
	data, entBytes, err := unpackWords(ws)
	if err != nil {
		return nil, err
	}
	return data[:entBytes], nil
}

// unpackWords turns words into their 11-bit indexes packed MSB first; the
// entropy is data[:entBytes] and the checksum bits follow it.
func unpackWords(ws []string) (data []byte, entBytes int, err error) {
	totalBits := len(ws) * 11
	entBytes = (totalBits - totalBits/33) / 8
	data = make([]byte, (totalBits+7)/8)
	for i, w := range ws {
		idx, ok := wordIndex[w]
		if !ok {
			clear(data)
			return nil, 0, fmt.Errorf("%w (word %d)", ErrUnknownWord, i+1)
		}
		for b := range 11 {
			if idx&(1<<(10-uint(b))) != 0 {
				pos := i*11 + b
				data[pos/8] |= 1 << (7 - uint(pos%8))
			}
		}
	}
	return data, entBytes, nil
}

// Seed is a 64-byte BIP39 seed, the root of every key. It redacts itself.
type Seed [SeedLen]byte

// String redacts the seed.
func (s *Seed) String() string { return "[redacted seed]" }

// GoString redacts the seed for %#v.
func (s *Seed) GoString() string { return s.String() }

// LogValue redacts the seed in log/slog output.
func (s *Seed) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Zero overwrites the seed.
func (s *Seed) Zero() { clear(s[:]) }

// Seed derives the BIP39 seed: PBKDF2-HMAC-SHA512, 2048 iterations, salt
// "mnemonic"+passphrase. The passphrase must be ASCII (see ErrNonASCII).
func (m Mnemonic) Seed(passphrase string) (*Seed, error) {
	if m.phrase == "" {
		return nil, ErrMnemonicLength
	}
	for i := range len(passphrase) {
		if passphrase[i] >= 0x80 {
			return nil, fmt.Errorf("seed passphrase: %w", ErrNonASCII)
		}
	}
	k := pbkdf2.Key([]byte(m.phrase), []byte(seedSaltPrefix+passphrase), seedIterations, SeedLen, sha512.New)
	var s Seed
	copy(s[:], k)
	clear(k)
	return &s, nil
}

// MnemonicToSeed parses phrase and derives its seed in one step.
func MnemonicToSeed(phrase, passphrase string) (*Seed, error) {
	m, err := ParseMnemonic(phrase)
	if err != nil {
		return nil, err
	}
	return m.Seed(passphrase)
}
