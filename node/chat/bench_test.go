package chat

import (
	"testing"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/protocol"
)

// BenchmarkStamp measures what a mailbox message's proof of work costs
// its sender at the mainnet difficulty (StampBits): one op is one stamp.
// `go test -run '^$' -bench Stamp -benchtime 20x ./node/chat/`
func BenchmarkStamp(b *testing.B) {
	k, err := sealbox.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	s, _, err := seal(make([]byte, 500), k.Pub)
	if err != nil {
		b.Fatal(err)
	}
	var origin [protocol.XOnlyKeySize]byte
	rcpt := RecipientHash(origin)
	for i := 0; i < b.N; i++ {
		origin[0] = byte(i)
		mint(origin, rcpt, s, StampBits)
	}
}

// BenchmarkSealOpen: sealing and opening one full-size message.
func BenchmarkSealOpen(b *testing.B) {
	k, err := sealbox.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, protocol.MaxChatPlain)
	for i := 0; i < b.N; i++ {
		s, _, err := seal(plain, k.Pub)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := open(s, k.Priv); err != nil {
			b.Fatal(err)
		}
	}
}
