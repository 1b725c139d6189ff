package tor

import (
	"strings"
	"testing"
)

func TestShortAddr(t *testing.T) {
	const onion = "hr6t3fid7zvsie5ur2yi7dftq2k3of63lagaekbqv6a76rkxudp43eyd.onion"
	tests := []struct{ in, want string }{
		{onion + ":80", "hr6t3fid….onion:80"},
		{onion, "hr6t3fid….onion"},
		{"127.0.0.1:9050", "127.0.0.1:9050"},
		{"short.onion:80", "short.onion:80"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := ShortAddr(tc.in); got != tc.want {
			t.Errorf("ShortAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A dial error never carries the whole address.
	for _, err := range []error{
		&SOCKSError{Code: 0xF0, Target: onion + ":80"},
		mapDialError(onion+":80", errTest("proxy: connection reset")),
	} {
		if strings.Contains(err.Error(), onion) {
			t.Errorf("error names the full onion address: %v", err)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
