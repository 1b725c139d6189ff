package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/market"
)

// BenchmarkLiveRender: what one live update of each page costs the node
// (the in-process API calls and the template), with a book of 100
// offers: the work an open browser tab asks for every LiveInterval.
func BenchmarkLiveRender(b *testing.B) {
	node := &fakeNode{}
	for i := range 100 {
		node.offers = append(node.offers, market.Entry{ID: fmt.Sprintf("%012x", i), Addr: fmt.Sprintf("m%d.onion:80", i),
			MinSize: 10_000, MaxSize: 1_000_000, Proof: "bond", BondAmount: 500_000, Created: time.Now()})
	}
	srv, err := New(Config{Listen: "127.0.0.1:0", API: node.router(), Cookie: func() string { return testCookie }})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	sess := &session{csrf: "x"}
	for _, p := range srv.nav {
		b.Run(p.Name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				v := srv.view(context.Background(), p, sess, url.Values{})
				if err := p.tmpl.ExecuteTemplate(&buf, "live", v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes/update")
		})
		// What a tick costs while the page's data stays the same: the
		// load and its fingerprint, no template (events.go).
		b.Run(p.Name+"-unchanged", func(b *testing.B) {
			for b.Loop() {
				dataHash(srv.view(context.Background(), p, sess, url.Values{}))
			}
		})
	}
}
