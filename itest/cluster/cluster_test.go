package cluster

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name string
		line string
		ok   bool
		msg  string
		sub  string
	}{
		{"json", `{"time":"2026-01-02T03:04:05.5Z","level":"INFO","msg":"swap reserved","subsystem":"maker","fee":8000}` + "\n", true, "swap reserved", "maker"},
		{"not json", "panic: boom\n", false, "", ""},
		{"empty", "\n", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := parseRecord([]byte(tc.line))
			if ok != tc.ok || r.Msg != tc.msg || r.Subsystem != tc.sub {
				t.Fatalf("got %+v, %v", r, ok)
			}
			if ok && (r.Attrs["fee"] != 8000.0 || r.Attrs["msg"] != nil || r.Time.IsZero()) {
				t.Fatalf("attrs %+v time %v", r.Attrs, r.Time)
			}
		})
	}
}

// TestFollow: records appended (also in pieces) after Follow started are
// delivered in order; non-JSON lines are skipped.
func TestFollow(t *testing.T) {
	p := &Proc{DataDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Follow(ctx, func(r LogRecord) {
			mu.Lock()
			got = append(got, r.Msg)
			mu.Unlock()
		})
	}()
	time.Sleep(150 * time.Millisecond) // the file does not exist yet
	f, err := os.OpenFile(filepath.Join(p.DataDir, "onionswap.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(`{"msg":"one"}` + "\nnot json\n" + `{"msg":"tw`)
	time.Sleep(250 * time.Millisecond)
	f.WriteString(`o"}` + "\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("got %q", got)
	}
}
