package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/dashboard"
)

// TestDashboardURL: the address and the login are said, in words or as
// JSON; a password set with dashboard password is mentioned.
func TestDashboardURL(t *testing.T) {
	dir := privateDir(t)
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Get(r, "/v1/status", func(context.Context, control.Request) (*control.Status, error) {
		return &control.Status{Dashboard: "http://127.0.0.1:8720/"}, nil
	})
	serveControl(t, dir, r)
	code, out, errs := cli(t, "", "dashboard", "url", "--datadir", dir)
	if code != 0 || !strings.HasPrefix(out, "http://127.0.0.1:8720/\nlog in with the control cookie in ") || strings.Contains(out, "password") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if err := dashboard.SetPassword(dashboard.PasswordPath(dir), "long enough password"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = cli(t, "", "dashboard", "url", "--datadir", dir, "--json")
	if code != 0 || !strings.Contains(out, `"url": "http://127.0.0.1:8720/"`) || !strings.Contains(out, `"password_set": true`) {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}
