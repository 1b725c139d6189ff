package tor

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// quietLogger discards logs unless ONIONSWAP_TOR_DEBUG is set.
func quietLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("ONIONSWAP_TOR_DEBUG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func wantErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q lacks %q", err, p)
		}
	}
}
