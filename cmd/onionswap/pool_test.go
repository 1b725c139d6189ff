package main

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// startPoolNode serves an in-memory pool's control endpoints on dir's
// socket, as a regtest daemon does.
func startPoolNode(t *testing.T, dir string) *pool.Pool {
	t.Helper()
	p, err := pool.New(pool.Config{Network: protocol.Regtest,
		Topics: []pool.Topic{{Name: pool.TopicOffer}, {Name: pool.TopicTest}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	p.RegisterControl(r)
	serveControl(t, dir, r)
	return p
}

// TestPoolPublishRemove: `pool publish` and `pool remove` through a
// node's control socket; flags may follow the arguments.
func TestPoolPublishRemove(t *testing.T) {
	dir := privateDir(t)
	p := startPoolNode(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{"publish", []string{"pool", "publish", "--datadir", dir, "greeting", "hello pool", "--ttl", "30s"}, 0, "id "},
		{"publish json", []string{"pool", "publish", "--datadir", dir, "--json", "other", "x"}, 0, `"id"`},
		{"offer topic refused", []string{"pool", "publish", "--datadir", dir, "--topic", pool.TopicOffer, "a", "b"}, 1, "only on the test topic"},
		{"one argument", []string{"pool", "publish", "--datadir", dir, "a"}, 2, "want 2 arguments"},
		{"three arguments", []string{"pool", "publish", "--datadir", dir, "a", "b", "c"}, 2, `unexpected argument "c"`},
		{"remove", []string{"pool", "remove", "--datadir", dir, "greeting", "--json"}, 0, `"item"`},
		{"remove unknown", []string{"pool", "remove", "--datadir", dir, "never"}, 1, "no live item"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", tc.args...)
			got := out
			if tc.code != 0 {
				got = errs
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q; want %q", code, tc.code, out, errs, tc.want)
			}
		})
	}
	code, out, _ := cli(t, "", "pool", "messages", "--datadir", dir, "--topic", pool.TopicTest, "--json")
	var ms []pool.Message
	if err := json.Unmarshal([]byte(out), &ms); code != 0 || err != nil {
		t.Fatalf("messages: exit %d, %v: %s", code, err, out)
	}
	removed := 0
	for _, m := range ms {
		if m.Removal {
			removed++
		}
	}
	if len(ms) != 2 || removed != 1 || len(p.Messages(pool.TopicTest)) != 2 {
		t.Fatalf("messages after publish ×2 and remove: %+v", ms)
	}
}
