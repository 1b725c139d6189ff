package script

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

const testOnion = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion:6102"

func testCert(t *testing.T) (*BondCert, []byte) {
	t.Helper()
	key := testKey("bond")
	c := &BondCert{
		OutPoint:     testOutPoint("bond-tx", 0),
		PubKey:       key.PubKey(),
		LockHeight:   30_000,
		Amount:       5_000_000,
		Onion:        testOnion,
		ExpiryHeight: 16_000,
	}
	sig, err := c.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return c, sig
}

func TestCertMessage(t *testing.T) {
	c, sig := testCert(t)
	msg, err := c.Message()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c.Digest()
	golden(t, "cert.golden", string(msg)+"\n"+"digest "+hex.EncodeToString(d[:])+"\n")
	if !strings.HasPrefix(string(msg), CertDomain+"|") {
		t.Fatal("message lacks the domain tag")
	}
	if err := c.VerifySig(sig); err != nil {
		t.Fatal(err)
	}
	// Every field is covered by the signature.
	mutations := []struct {
		name string
		f    func(c *BondCert)
	}{
		{"outpoint index", func(c *BondCert) { c.OutPoint.Index++ }},
		{"outpoint hash", func(c *BondCert) { c.OutPoint.Hash[0] ^= 1 }},
		{"pubkey", func(c *BondCert) { c.PubKey = testKey("other").PubKey() }},
		{"lock height", func(c *BondCert) { c.LockHeight++ }},
		{"amount", func(c *BondCert) { c.Amount++ }},
		{"onion", func(c *BondCert) { c.Onion = strings.Replace(c.Onion, "v", "w", 1) }},
		{"expiry", func(c *BondCert) { c.ExpiryHeight++ }},
	}
	for _, m := range mutations {
		cc := *c
		m.f(&cc)
		if err := cc.VerifySig(sig); !errors.Is(err, ErrBondBadSignature) {
			t.Errorf("%s: tampered certificate verified: %v", m.name, err)
		}
	}
	if _, err := c.Sign(testKey("other")); !errors.Is(err, ErrBondCertInvalid) {
		t.Errorf("signed with a foreign key: %v", err)
	}
	// Ambiguity guard: separators and whitespace are refused in the address.
	for _, bad := range []string{"", "a|b", "a b", "a\nb", strings.Repeat("a", 256), "caf\xc3\xa9"} {
		cc := *c
		cc.Onion = bad
		if _, err := cc.Message(); !errors.Is(err, ErrBondCertInvalid) {
			t.Errorf("address %q accepted: %v", bad, err)
		}
	}
	if err := c.CheckOnion(testOnion); err != nil {
		t.Error(err)
	}
	if err := c.CheckOnion("other.onion:1"); !errors.Is(err, ErrBondOnionMismatch) {
		t.Errorf("onion mismatch: %v", err)
	}
}

func TestCheckBond(t *testing.T) {
	c, sig := testCert(t)
	pk, err := BondPkScript(c.PubKey, c.LockHeight)
	if err != nil {
		t.Fatal(err)
	}
	params := BondParams{MinAmount: 1_000_000, MinLockBlocks: 12_960, MaxLockBlocks: 25_920,
		MinConfirmations: 3, MaxCertValidityBlocks: 2016}
	const tip, conf = 15_000, 14_000 // lock 16,000 blocks after confirmation

	highS := makeHighS(t, append(bytes.Clone(sig), 0x01))
	highS = highS[:len(highS)-1]
	tests := []struct {
		name       string
		mutate     func(c *BondCert)
		sig        []byte
		params     func(p *BondParams)
		tip, conf  int32
		value      int64
		pkScript   []byte
		want       error
		signNewKey bool
	}{
		{name: "valid", tip: tip, conf: conf, value: c.Amount, pkScript: pk},
		{name: "bad signature", sig: sig[:len(sig)-1], tip: tip, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondBadSignature},
		{name: "high-S signature", sig: highS, tip: tip, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondBadSignature},
		{name: "tampered onion", mutate: func(c *BondCert) { c.Onion = "evil.onion:1" }, tip: tip, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondBadSignature},
		{name: "cert expired (tip = expiry)", tip: 16_000, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondCertExpired},
		{name: "cert valid one block before expiry", tip: 15_999, conf: conf, value: c.Amount, pkScript: pk},
		{name: "cert lifetime too long", tip: 13_983, conf: 13_000, value: c.Amount, pkScript: pk, want: ErrBondCertLifetime},
		{name: "other script", tip: tip, conf: conf, value: c.Amount, pkScript: p2wpkh("x"), want: ErrBondScriptMismatch},
		{name: "script with other lock height", tip: tip, conf: conf, value: c.Amount, pkScript: mustBondPk(t, c, 30_001), want: ErrBondScriptMismatch},
		{name: "amount mismatch", tip: tip, conf: conf, value: c.Amount + 1, pkScript: pk, want: ErrBondAmountMismatch},
		{name: "unconfirmed", tip: tip, conf: 0, value: c.Amount, pkScript: pk, want: ErrBondUnconfirmed},
		{name: "too few confirmations", tip: tip, conf: tip - 1, value: c.Amount, pkScript: pk, want: ErrBondUnconfirmed},
		{name: "conf above tip", tip: tip, conf: tip + 1, value: c.Amount, pkScript: pk, want: ErrBondUnconfirmed},
		{name: "lock too short", tip: 17_100, conf: 30_000 - 12_959, value: c.Amount, pkScript: pk, want: ErrBondLockWindow,
			mutate: func(c *BondCert) { c.ExpiryHeight = 18_000 }, signNewKey: true},
		{name: "lock exactly min", tip: 17_040, conf: 30_000 - 12_960, value: c.Amount, pkScript: pk,
			params: func(p *BondParams) { p.MinConfirmations = 1; p.MaxCertValidityBlocks = 0 },
			mutate: func(c *BondCert) { c.ExpiryHeight = 18_000 }, signNewKey: true},
		{name: "lock too long", tip: tip, conf: 30_000 - 25_921, value: c.Amount, pkScript: pk, want: ErrBondLockWindow},
		{name: "too small", tip: tip, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondTooSmall,
			params: func(p *BondParams) { p.MinAmount = c.Amount + 1 }},
		{name: "bond expired (tip = lock height)", tip: 30_000, conf: 14_000, value: c.Amount, pkScript: pk, want: ErrBondExpired,
			mutate: func(c *BondCert) { c.ExpiryHeight = 31_000 }, signNewKey: true,
			params: func(p *BondParams) { p.MaxCertValidityBlocks = 0 }},
		{name: "bond live one block before lock height", tip: 29_999, conf: 14_000, value: c.Amount, pkScript: pk,
			mutate: func(c *BondCert) { c.ExpiryHeight = 31_000 }, signNewKey: true,
			params: func(p *BondParams) { p.MaxCertValidityBlocks = 0 }},
		{name: "nil pubkey", mutate: func(c *BondCert) { c.PubKey = nil }, tip: tip, conf: conf, value: c.Amount, pkScript: pk, want: ErrBondCertInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			s := sig
			if tc.mutate != nil {
				tc.mutate(&cc)
			}
			if tc.signNewKey {
				var err error
				if s, err = cc.Sign(testKey("bond")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.sig != nil {
				s = tc.sig
			}
			p := params
			if tc.params != nil {
				tc.params(&p)
			}
			err := CheckBond(&cc, s, p, tc.tip, tc.conf, tc.value, tc.pkScript)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
		})
	}
	if err := CheckBond(nil, sig, params, tip, conf, c.Amount, pk); !errors.Is(err, ErrBondCertInvalid) {
		t.Errorf("nil cert: %v", err)
	}
	d := DefaultBondParams()
	if d.MinLockBlocks != 12_960 || d.MaxLockBlocks != 25_920 || d.MinConfirmations < 1 {
		t.Errorf("defaults %+v", d)
	}
}

func mustBondPk(t *testing.T, c *BondCert, h uint32) []byte {
	pk, err := BondPkScript(c.PubKey, h)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}
