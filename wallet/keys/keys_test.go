package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
)

const wordlistSHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"

const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func TestWordlistHash(t *testing.T) {
	sum := sha256.Sum256([]byte(wordlistEnglish))
	if got := hex.EncodeToString(sum[:]); got != wordlistSHA256 {
		t.Fatalf("wordlist sha256 = %s, want %s", got, wordlistSHA256)
	}
	if len(words) != 2048 || words[0] != "abandon" || words[2047] != "zoo" {
		t.Fatalf("wordlist: %d words, first %q, last %q", len(words), words[0], words[len(words)-1])
	}
}

// TestBIP39Vectors runs the English vectors of trezor/python-mnemonic
// (testdata/vectors.json), passphrase "TREZOR": entropy → words → seed → xprv.
func TestBIP39Vectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		English [][4]string `json:"english"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.English) != 24 {
		t.Fatalf("%d vectors, want 24", len(v.English))
	}
	for _, tc := range v.English {
		t.Run(tc[0], func(t *testing.T) {
			ent, _ := hex.DecodeString(tc[0])
			m, err := EntropyToMnemonic(ent)
			if err != nil {
				t.Fatal(err)
			}
			if m.Words() != tc[1] {
				t.Fatalf("words = %q, want %q", m.Words(), tc[1])
			}
			p, err := ParseMnemonic(tc[1])
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			back, _ := p.Entropy()
			if !bytes.Equal(back, ent) {
				t.Fatalf("entropy round trip %x", back)
			}
			seed, err := p.Seed("TREZOR")
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(seed[:]); got != tc[2] {
				t.Fatalf("seed = %s, want %s", got, tc[2])
			}
			kr, err := NewKeyring(seed, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if kr.MasterXPriv() != tc[3] {
				t.Fatalf("xprv mismatch")
			}
		})
	}
}

func TestParseMnemonicErrors(t *testing.T) {
	tests := []struct {
		name   string
		phrase string
		want   error
	}{
		{"too short", "abandon abandon abandon", ErrMnemonicLength},
		{"13 words", abandonAbout + " abandon", ErrMnemonicLength},
		{"unknown word", strings.Replace(abandonAbout, "about", "aboutt", 1), ErrUnknownWord},
		{"bad checksum", strings.Replace(abandonAbout, "about", "abandon", 1), ErrMnemonicChecksum},
		{"swapped words", "legal winner thank year wave sausage worth useful legal winner yellow thank", ErrMnemonicChecksum},
		{"non ascii", strings.Replace(abandonAbout, "about", "abóut", 1), ErrNonASCII},
		{"empty", "", ErrMnemonicLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMnemonic(tc.phrase)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "abandon") {
				t.Fatalf("error quotes a word: %v", err)
			}
		})
	}
}

func TestParseMnemonicCanonicalises(t *testing.T) {
	m, err := ParseMnemonic("  ABANDON abandon\tabandon abandon abandon abandon abandon abandon abandon abandon abandon About\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.Words() != abandonAbout {
		t.Fatalf("canonical = %q", m.Words())
	}
}

func TestNewMnemonic(t *testing.T) {
	for _, n := range []int{12, 24} {
		m, err := NewMnemonic(n)
		if err != nil {
			t.Fatal(err)
		}
		if m.WordCount() != n {
			t.Fatalf("%d words, want %d", m.WordCount(), n)
		}
		if err := ValidateMnemonic(m.Words()); err != nil {
			t.Fatal(err)
		}
		m2, _ := NewMnemonic(n)
		if m2.Words() == m.Words() {
			t.Fatal("two mnemonics are equal")
		}
	}
	if _, err := NewMnemonic(13); err == nil {
		t.Fatal("13 words accepted")
	}
}

func TestSeedPassphraseNonASCII(t *testing.T) {
	if _, err := MnemonicToSeed(abandonAbout, "pässword"); !errors.Is(err, ErrNonASCII) {
		t.Fatalf("err = %v", err)
	}
}

// TestSecretsRedacted checks that fmt and slog never print the phrase or seed.
func TestSecretsRedacted(t *testing.T) {
	m, _ := ParseMnemonic(abandonAbout)
	seed, _ := m.Seed("")
	kr, _ := NewKeyring(seed, &chaincfg.MainNetParams)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("secrets", "mnemonic", m, "seed", seed, "keyring", kr)
	out := buf.String() + fmt.Sprintf("%v %s %+v %#v %v %v", m, m, m, m, seed, kr)
	for _, leak := range []string{"abandon", hex.EncodeToString(seed[:8]), "xprv"} {
		if strings.Contains(out, leak) {
			t.Fatalf("output leaks %q: %s", leak, out)
		}
	}
}

// TestBIP84Vectors checks bitcoin/bips bip-0084.mediawiki's test vectors.
func TestBIP84Vectors(t *testing.T) {
	seed, err := MnemonicToSeed(abandonAbout, "")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		branch Branch
		index  uint32
		addr   string
		pub    string
	}{
		{"m/84'/0'/0'/0/0", BranchExternal, 0, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"},
		{"m/84'/0'/0'/0/1", BranchExternal, 1, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g", "03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77"},
		{"m/84'/0'/0'/1/0", BranchInternal, 0, "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el", "03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, pub, err := kr.P2WPKHAddress(tc.branch, tc.index)
			if err != nil {
				t.Fatal(err)
			}
			if addr.EncodeAddress() != tc.addr {
				t.Fatalf("address = %s, want %s", addr.EncodeAddress(), tc.addr)
			}
			if hex.EncodeToString(pub.SerializeCompressed()) != tc.pub {
				t.Fatalf("pubkey mismatch")
			}
		})
	}
}

// TestNodeBranches checks that the node's extra keys are deterministic,
// distinct from each other and from the BIP84 keys, and depend on the network.
func TestNodeBranches(t *testing.T) {
	seed, _ := MnemonicToSeed(abandonAbout, "")
	kr, _ := NewKeyring(seed, &chaincfg.RegressionNetParams)
	kr2, _ := NewKeyring(seed, &chaincfg.RegressionNetParams)
	main, _ := NewKeyring(seed, &chaincfg.MainNetParams)
	seen := map[string]string{}
	add := func(name string, b []byte) {
		k := hex.EncodeToString(b)
		if prev, ok := seen[k]; ok {
			t.Fatalf("%s equals %s", name, prev)
		}
		seen[k] = name
	}
	tp, _ := kr.TweakablePoint()
	add("tweak", tp.PubKey().SerializeCompressed())
	for i := range uint32(3) {
		b, _ := kr.BondKey(i)
		add(fmt.Sprint("bond", i), b.PubKey().SerializeCompressed())
		for k := range uint32(3) {
			s, _ := kr.SwapKey(i, k)
			add(fmt.Sprint("swap", i, k), s.PubKey().SerializeCompressed())
		}
	}
	for _, b := range Branches {
		_, pub, _ := kr.P2WPKHAddress(b, 0)
		add("p2wpkh "+b.String(), pub.SerializeCompressed())
	}
	mtp, _ := main.TweakablePoint()
	add("mainnet tweak", mtp.PubKey().SerializeCompressed())
	on1, _ := kr.OnionIdentitySeed()
	on2, _ := kr2.OnionIdentitySeed()
	if on1 != on2 {
		t.Fatal("onion seed not deterministic")
	}
	add("onion", on1[:])
	b2, _ := kr2.BondKey(1)
	b1, _ := kr.BondKey(1)
	if !b1.PubKey().IsEqual(b2.PubKey()) {
		t.Fatal("bond key not deterministic")
	}
	regAddr, _, _ := kr.P2WPKHAddress(BranchExternal, 0)
	if !strings.HasPrefix(regAddr.EncodeAddress(), "bcrt1q") {
		t.Fatalf("regtest address %s", regAddr)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 64)
	start := time.Now()
	blob, err := EncryptSecret(secret, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("argon2id(t=%d, m=%d MiB, p=%d) + seal: %v", Argon2Time, Argon2MemKiB/1024, Argon2Threads, time.Since(start))
	blob2, _ := EncryptSecret(secret, []byte("correct horse"))
	if bytes.Equal(blob, blob2) {
		t.Fatal("two encryptions are equal: salt/nonce not random")
	}
	if bytes.Contains(blob, secret[:16]) {
		t.Fatal("plaintext visible in blob")
	}
	got, err := DecryptSecret(blob, []byte("correct horse"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("decrypt: %v", err)
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		pass   string
		want   error
	}{
		{"wrong passphrase", func(b []byte) []byte { return b }, "battery staple", ErrWrongPassphrase},
		{"flipped ciphertext", func(b []byte) []byte { b[len(b)-20] ^= 1; return b }, "correct horse", ErrWrongPassphrase},
		{"flipped salt", func(b []byte) []byte { b[15] ^= 1; return b }, "correct horse", ErrWrongPassphrase},
		{"truncated", func(b []byte) []byte { return b[:30] }, "correct horse", ErrBadBlob},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "correct horse", ErrBadBlob},
		{"future version", func(b []byte) []byte { b[4] = 9; return b }, "correct horse", ErrBadBlob},
		{"huge memory", func(b []byte) []byte { b[9] = 0xff; return b }, "correct horse", ErrBadBlob},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), blob...))
			if _, err := DecryptSecret(b, []byte(tc.pass)); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestIntegrityBranch: integrity key i is m/175'/coin'/5'/i' (every level
// hardened), distinct from the BIP84 key with the same index.
func TestIntegrityBranch(t *testing.T) {
	seed, _ := MnemonicToSeed(abandonAbout, "")
	kr, err := NewKeyring(seed, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{0, 1, 7} {
		want, err := derivePath(kr.root, PurposeNode+h, 1+h, 5+h, i+h)
		if err != nil {
			t.Fatal(err)
		}
		wantPriv, _ := want.ECPrivKey()
		got, err := kr.P2WPKHKey(BranchIntegrity, i)
		if err != nil {
			t.Fatal(err)
		}
		if !got.PubKey().IsEqual(wantPriv.PubKey()) {
			t.Fatalf("integrity key %d is not m/175'/1'/5'/%d'", i, i)
		}
		ext, _ := kr.P2WPKHKey(BranchExternal, i)
		if ext.PubKey().IsEqual(got.PubKey()) {
			t.Fatalf("integrity key %d equals the external key", i)
		}
	}
	if _, err := kr.P2WPKHKey(BranchIntegrity, h); err == nil {
		t.Fatal("hardened index accepted")
	}
	if BranchIntegrity.String() != "integrity" {
		t.Fatal(BranchIntegrity.String())
	}
}
