package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
)

// tipBackend answers what creating and opening a wallet asks: the
// network and the tip. Anything else panics (nil interface).
type tipBackend struct{ chain.Backend }

func (tipBackend) Params() *chaincfg.Params { return &chaincfg.RegressionNetParams }

func (tipBackend) Tip(context.Context) (int32, chainhash.Hash, error) {
	return 100, chainhash.Hash{1}, nil
}

// TestPassphraseErrorsNameTheFlag: opening an encrypted wallet without
// its passphrase, or with a wrong one, says how to give it.
func TestPassphraseErrorsNameTheFlag(t *testing.T) {
	ctx := context.Background()
	c := validConfig(t, RoleWallet)
	c.WalletPassphrase = []byte("right")
	wc, err := c.WalletConfig(tipBackend{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w, _, err := wallet.Create(ctx, wc, wallet.CreateOptions{Words: 12})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	c.WalletPassphrase = nil
	_, err = OpenWallet(ctx, &c, tipBackend{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, wallet.ErrPassphraseRequired) || !strings.Contains(err.Error(), "--passphrase-file") {
		t.Fatalf("no passphrase: %v", err)
	}
	c.PassphraseFile = filepath.Join(t.TempDir(), "pw")
	os.WriteFile(c.PassphraseFile, []byte("wrong\n"), 0o600)
	_, err = OpenWallet(ctx, &c, tipBackend{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, wallet.ErrWrongPassphrase) || !strings.Contains(err.Error(), "--passphrase-file "+c.PassphraseFile) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
