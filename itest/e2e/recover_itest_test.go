//go:build itest

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/control"
)

// TestTakerRecoverWithoutDirectory: `onionswap taker recover`, for when
// the makers (and their directories) are gone, runs end to end without
// --directory: a one-shot taker on the private Tor network and the
// regtest chain that finds nothing to recover. On the way, the wallet
// commands without a daemon (an in-process wallet node): a read leaves
// no log file behind.
func TestTakerRecoverWithoutDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "taker")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	common := append([]string{"--datadir", dir, "--log-stderr", "off"}, clu.RPCArgs()...)
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, clu.Binary(), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("onionswap %v: %v: %s", args[:2], err, stderr.String())
		}
		return out
	}
	run(append([]string{"wallet", "create"}, common...)...)
	os.Remove(filepath.Join(dir, "onionswap.log"))
	var bal control.Balances
	if out := run(append([]string{"wallet", "balance", "--json"}, common...)...); json.Unmarshal(out, &bal) != nil || bal.Height < 1 {
		t.Fatalf("wallet balance: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "onionswap.log")); !os.IsNotExist(err) {
		t.Fatalf("wallet balance wrote a log: %v", err)
	}
	if addr := string(bytes.TrimSpace(run(append([]string{"wallet", "address"}, common...)...))); len(addr) < 40 {
		t.Fatalf("wallet address: %q", addr)
	}
	out := run(append(append([]string{"taker", "recover", "--json"}, common...),
		"--tor", "managed", "--tornet-dir", clu.Tornet().Dir())...)
	var rep control.RecoverReply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Swaps) != 0 || rep.Unfinished != 0 {
		t.Fatalf("a new wallet has swaps: %+v", rep)
	}
}
