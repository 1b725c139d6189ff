//go:build itest

package directory

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Test timings on a loaded 2-core machine.
const (
	itestTorStart = 90 * time.Second // start + bootstrap of one managed tor
	itestPublish  = 60 * time.Second // onion descriptor upload
	itestRequest  = 90 * time.Second // one Register/List over Tor (dial included)
	itestFeeRate  = 2000             // sat/kvB
)

// itestPolicy is the regtest bond policy of the directory and the taker:
// lock windows of 10–100 blocks instead of 90–180 days, certificates
// valid ≤ 50 blocks, 0.01 BTC minimum.
var itestPolicy = wallet.BondPolicy{MinAmount: 1_000_000, MinLockBlocks: 10, MaxLockBlocks: 100,
	MinConfirmations: 1, MaxCertValidityBlocks: 50}

func itestCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startTor starts a managed tor on the private network.
func startTor(t *testing.T, name string) *tor.TorTransport {
	t.Helper()
	dir := filepath.Join(itestDir, t.Name(), name)
	tr, err := tor.NewTorTransport(itestCtx(t, itestTorStart), tor.Config{
		Mode: tor.ModeManaged, DataDir: filepath.Join(dir, "tor"), KeyFile: filepath.Join(dir, "onion.key"),
		ExtraArgs: testTor.ClientArgs(), DialTimeout: itestRequest, PublishTimeout: itestPublish,
		Logger: baseLogger(t).With("subsystem", "tor", "node", name),
	})
	if err != nil {
		t.Fatalf("tor %s: %v", name, err)
	}
	recordPID(tr.Status().TorPID, "tor "+name)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// itestWallet is a regtest maker wallet with confirmed coins.
func itestWallet(t *testing.T, coins ...btcutil.Amount) *wallet.Wallet {
	t.Helper()
	ctx := itestCtx(t, time.Minute)
	w, _, err := wallet.Create(ctx, wallet.Config{Path: filepath.Join(t.TempDir(), "wallet.db"),
		Params: &chaincfg.RegressionNetParams, Backend: node.Backend(), Logger: baseLogger(t).With("subsystem", "wallet")}, wallet.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for _, a := range coins {
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, addr, a); err != nil {
			t.Fatal(err)
		}
	}
	mineSync(t, w, 1)
	return w
}

func mineSync(t *testing.T, w *wallet.Wallet, n int) {
	t.Helper()
	ctx := itestCtx(t, time.Minute)
	if _, err := node.Mine(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func tip(t *testing.T) uint32 {
	t.Helper()
	h, _, err := node.Backend().Tip(itestCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return uint32(h)
}

// createBond makes a bond of amount locked lockBlocks above the tip,
// confirmed in the next block.
func createBond(t *testing.T, w *wallet.Wallet, amount btcutil.Amount, lockBlocks uint32) *wallet.Bond {
	t.Helper()
	b, _, err := w.CreateBond(itestCtx(t, time.Minute), amount, tip(t)+lockBlocks, itestFeeRate)
	if err != nil {
		t.Fatal(err)
	}
	mineSync(t, w, 1)
	return b
}

// proofFor signs a certificate of bond op for addr valid for validity
// blocks above the tip (0 or less: already expired).
func proofFor(t *testing.T, w *wallet.Wallet, op wire.OutPoint, addr string, validity int) protocol.FidelityProof {
	t.Helper()
	cert, sig, err := w.BondProof(itestCtx(t, 10*time.Second), op, addr, uint32(int(tip(t))+validity))
	if err != nil {
		t.Fatal(err)
	}
	return ProofFromCert(cert, sig)
}

// dirOverTor is a directory served over Tor.
type dirOverTor struct {
	*Server
	in   *service.Server
	addr string
}

func (d *dirOverTor) Addr() string { return d.addr }

func (d *dirOverTor) Stop() {
	d.in.Stop()
	d.Server.Stop()
}

// dirServer is a directory over Tor.
func dirServer(t *testing.T, tr tor.Transport, db string, ttl time.Duration) *dirOverTor {
	t.Helper()
	log := testLogger(t).With("node", "directory")
	s, err := NewServer(ServerConfig{DBPath: db, Network: protocol.Regtest,
		Backend: node.Backend(), Policy: itestPolicy, EntryTTL: ttl, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := itestCtx(t, itestPublish+itestTorStart)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lis, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest, Logger: log}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Serve(lis); err != nil {
		t.Fatal(err)
	}
	d := &dirOverTor{Server: s, in: in, addr: lis.Addr().String()}
	t.Cleanup(d.Stop)
	if ol, ok := lis.(*tor.OnionListener); ok {
		if err := ol.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestDirectoryOverTor runs the directory on an onion service of the
// private Tor network against btcd regtest, with bonds made by the
// wallet: a valid bond registers and is listed; forged, expired,
// spent, too-small and unconfirmed bonds are refused with their reason;
// a new address for a bond replaces the old one; the taker's Source
// drops a bond spent since it was listed; the directory's own
// re-verification drops it too; the list survives a restart; entries
// expire.
func TestDirectoryOverTor(t *testing.T) {
	dirTor := startTor(t, "directory")
	makerTor := startTor(t, "maker")
	cc := ClientConfig{Network: protocol.Regtest, Logger: testLogger(t).With("node", "maker")}

	// The maker's real onion address (its service is what takers dial).
	ml, err := makerTor.Listen(itestCtx(t, itestPublish))
	if err != nil {
		t.Fatal(err)
	}
	makerAddr := ml.Addr().String()
	ml.Close()

	w := itestWallet(t, 10_000_000, 10_000_000, 10_000_000, 10_000_000)
	bondA := createBond(t, w, 2_000_000, 40)
	bondSpent := createBond(t, w, 1_500_000, 12)
	bondSmall := createBond(t, w, 500_000, 40)

	db := filepath.Join(t.TempDir(), "directory.db")
	srv := dirServer(t, dirTor, db, EntryTTL)
	dirAddr := srv.Addr()
	t.Logf("directory at %s, maker at %s", dirAddr, makerAddr)

	var rtts []time.Duration
	register := func(p protocol.FidelityProof) error {
		t.Helper()
		t0 := time.Now()
		ttl, err := Register(itestCtx(t, itestRequest), makerTor, dirAddr, p, walletSigner(w), cc)
		rtts = append(rtts, time.Since(t0))
		if err == nil && ttl != EntryTTL {
			t.Fatalf("ttl %v", ttl)
		}
		return err
	}
	list := func(tr tor.Transport, addr string) map[wire.OutPoint]string {
		t.Helper()
		es, err := List(itestCtx(t, itestRequest), tr, addr, cc)
		if err != nil {
			t.Fatal(err)
		}
		m := map[wire.OutPoint]string{}
		for _, e := range es {
			m[e.Proof.BondOutPoint] = e.Addr
		}
		return m
	}

	t.Run("valid bond registers and is listed", func(t *testing.T) {
		if err := register(proofFor(t, w, bondA.OutPoint, makerAddr, 40)); err != nil {
			t.Fatal(err)
		}
		if err := register(proofFor(t, w, bondSpent.OutPoint, "spentmaker"+makerAddr[10:], 40)); err != nil {
			t.Fatal(err)
		}
		if got := list(makerTor, dirAddr); got[bondA.OutPoint] != makerAddr || len(got) != 2 {
			t.Fatalf("list %v", got)
		}
	})

	otherKey, _ := btcec.NewPrivateKey()
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name  string
			proof func() protocol.FidelityProof
			code  protocol.ErrorCode
			want  error
		}{
			{"forged by another key", func() protocol.FidelityProof {
				p := proofFor(t, w, bondA.OutPoint, makerAddr, 40)
				cert, _ := CertFromProof(&p)
				sig := signWith(t, cert, otherKey)
				return ProofFromCert(cert, sig)
			}, protocol.CodeBondForged, script.ErrBondBadSignature},
			{"certificate of another onion", func() protocol.FidelityProof {
				p := proofFor(t, w, bondA.OutPoint, "copied"+makerAddr[6:], 40)
				p.Addr = makerAddr // registered under the address it was not signed for
				return p
			}, protocol.CodeBondForged, script.ErrBondBadSignature},
			{"expired certificate", func() protocol.FidelityProof {
				return proofFor(t, w, bondA.OutPoint, makerAddr, 0)
			}, protocol.CodeBondCertExpired, script.ErrBondCertExpired},
			{"too small", func() protocol.FidelityProof {
				return proofFor(t, w, bondSmall.OutPoint, makerAddr, 40)
			}, protocol.CodeBondTooSmall, script.ErrBondTooSmall},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := register(tc.proof())
				var ne *NackError
				if !errors.As(err, &ne) || ne.Code != tc.code || !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want Nack %v", err, tc.code)
				}
				t.Logf("refused: %v", err)
			})
		}
	})

	t.Run("unconfirmed bond refused", func(t *testing.T) {
		b, _, err := w.CreateBond(itestCtx(t, time.Minute), 2_000_000, tip(t)+40, itestFeeRate)
		if err != nil {
			t.Fatal(err)
		}
		err = register(proofFor(t, w, b.OutPoint, makerAddr, 40))
		if !errors.Is(err, script.ErrBondUnconfirmed) {
			t.Fatalf("got %v, want unconfirmed", err)
		}
		mineSync(t, w, 1)
	})

	t.Run("spent bond dropped by source and directory, then refused", func(t *testing.T) {
		ctx := itestCtx(t, 2*time.Minute)
		// Mine to the spent bond's lock height and redeem it.
		if n := int(bondSpent.LockHeight) - int(tip(t)); n > 0 {
			mineSync(t, w, n)
		}
		if _, err := w.RedeemBond(ctx, bondSpent.OutPoint, itestFeeRate); err != nil {
			t.Fatal(err)
		}
		mineSync(t, w, 1)
		src, err := NewSource(SourceConfig{Dialer: makerTor, Directories: []string{dirAddr}, Client: cc,
			Backend: node.Backend(), Policy: itestPolicy, Logger: testLogger(t).With("node", "taker")})
		if err != nil {
			t.Fatal(err)
		}
		if got := list(makerTor, dirAddr); len(got) != 2 {
			t.Fatalf("directory should still list the spent bond before re-verifying: %v", got)
		}
		cands, err := src.Candidates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cands) != 1 || cands[0].Proof.BondOutPoint != bondA.OutPoint || cands[0].Addr != makerAddr || cands[0].BondValue <= 0 {
			t.Fatalf("candidates %+v", cands)
		}
		t.Logf("candidate bond value %.4g", cands[0].BondValue)
		if err := srv.Reverify(ctx); err != nil {
			t.Fatal(err)
		}
		if got := list(makerTor, dirAddr); len(got) != 1 || got[bondA.OutPoint] != makerAddr {
			t.Fatalf("after re-verification %v", got)
		}
		err = register(proofFor(t, w, bondSpent.OutPoint, makerAddr, 40))
		if !errors.Is(err, script.ErrBondSpent) {
			t.Fatalf("got %v, want spent", err)
		}
	})

	newAddr := "moved" + makerAddr[5:]
	t.Run("new address replaces the entry", func(t *testing.T) {
		if err := register(proofFor(t, w, bondA.OutPoint, newAddr, 40)); err != nil {
			t.Fatal(err)
		}
		if got := list(makerTor, dirAddr); len(got) != 1 || got[bondA.OutPoint] != newAddr {
			t.Fatalf("list %v", got)
		}
	})

	t.Run("list survives a restart", func(t *testing.T) {
		srv.Stop()
		srv = dirServer(t, dirTor, db, EntryTTL)
		if srv.Addr() != dirAddr {
			t.Fatalf("address changed: %s", srv.Addr())
		}
		t0 := time.Now()
		got := list(makerTor, dirAddr)
		t.Logf("first list after restart: %v", time.Since(t0))
		if len(got) != 1 || got[bondA.OutPoint] != newAddr {
			t.Fatalf("after restart %v", got)
		}
	})

	t.Run("entries expire", func(t *testing.T) {
		const ttl = 5 * time.Second
		srv.Stop()
		srv = dirServer(t, dirTor, db, ttl)
		reg0 := time.Now()
		if _, err := Register(itestCtx(t, itestRequest), makerTor, dirAddr, proofFor(t, w, bondA.OutPoint, newAddr, 40), walletSigner(w), cc); err != nil {
			t.Fatal(err)
		}
		if got := list(makerTor, dirAddr); len(got) != 1 {
			t.Fatalf("just registered: %v", got)
		}
		time.Sleep(time.Until(reg0.Add(ttl + time.Second)))
		if got := list(makerTor, dirAddr); len(got) != 0 {
			t.Fatalf("after the TTL: %v", got)
		}
	})

	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	if len(rtts) > 0 {
		t.Logf("Register round trips over Tor (dial+handshake+verify+reply), n=%d: min %v, median %v, max %v",
			len(rtts), rtts[0].Round(time.Millisecond), rtts[len(rtts)/2].Round(time.Millisecond), rtts[len(rtts)-1].Round(time.Millisecond))
	}
}

// signWith signs cert's digest with key (not the bond key): a forgery.
func signWith(t *testing.T, cert *script.BondCert, key *btcec.PrivateKey) []byte {
	t.Helper()
	forged := *cert
	forged.PubKey = key.PubKey()
	sig, err := forged.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// walletSigner answers registration challenges with w's bond keys.
func walletSigner(w *wallet.Wallet) ChallengeSigner {
	return func(ctx context.Context, p protocol.FidelityProof, digest [32]byte) ([]byte, error) {
		return w.SignWithBondKey(ctx, p.BondOutPoint, digest)
	}
}
