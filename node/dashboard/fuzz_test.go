package dashboard

import (
	"strings"
	"testing"
)

// FuzzParseHash: a stored password hash of any content parses or fails
// cleanly, and what parses is within the bounds a login may cost.
func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=4000000000,t=2,p=1$c2FsdA$a2V5")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.m == 0 || h.m > maxArgonMemory || h.t == 0 || h.t > maxArgonTime || h.p == 0 ||
			len(h.key) == 0 || len(h.key) > maxArgonKey || len(h.salt) > maxArgonSalt {
			t.Fatalf("%q parsed out of bounds: %+v", s, h)
		}
	})
}

// FuzzParseSat: an amount typed into a form is a positive number of
// satoshis or an error, never a panic or a wrap-around.
func FuzzParseSat(f *testing.F) {
	for _, s := range []string{"100000", "1 000 000", "0.01 BTC", "5000 sat", "-1", "1e9", "99999999999999999999", "21000001 btc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSat(s)
		if err == nil && n <= 0 {
			t.Fatalf("%q parsed to %d", s, n)
		}
		if err == nil && strings.HasSuffix(strings.ToLower(strings.TrimSpace(s)), "btc") && n > 21e14 {
			t.Fatalf("%q parsed to %d sat, more than exist", s, n)
		}
	})
}
