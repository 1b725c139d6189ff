//go:build itest

package market

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// The book benchmark's fixture: bookOffers offers, each with its own
// fidelity bond (one bond backs one live offer) confirmed on regtest and
// its own origin key.
const (
	bookOffers = 1000
	// bookBondAmount: the policy's minimum (script.DefaultMinBondAmount);
	// offer i's bond holds i sat more, so bond values differ.
	bookBondAmount = script.DefaultMinBondAmount
	// bookBondFee pays for one bond transaction: one P2WPKH input, one
	// P2WSH output, ~110 vB at ~3.6 sat/vB (btcd relays from 1 sat/vB).
	bookBondFee = 400
	// bookSplitFeeRate: sat/vB of the transaction that splits one faucet
	// payment into the bonds' inputs (~31 kvB).
	bookSplitFeeRate = 2
	// bookOfferTTL: the offer topic's longest lifetime (twice
	// market.OfferTTL), so that the fixture outlives several runs of the
	// benchmark (-count) without a refresh.
	bookOfferTTL = 2 * market.OfferTTL
	// bookCertBlocks: the certificates' validity, under the policy's
	// two-week maximum (script.DefaultMaxCertValidityBlocks).
	bookCertBlocks = 1000
	// bookLockBlocks: 100 days past confirmation, inside the policy's
	// window of 90 to 180 days.
	bookLockBlocks = 100 * 144
)

// bookFixture is the node whose pool holds the fixture's offers, shared by
// every run of the benchmark in one test process (-count).
type bookFixture struct {
	host    *cluster.Proc
	origins map[string]bool // hex x-only origin keys of the fixture's offers
	bytes   int             // of the fixture's envelopes
	// validate: one cold market.Validator check per offer, on the chain
	// backend's RPC, averaged over the fixture.
	validate time.Duration
}

var (
	bookOnce  sync.Once
	bookFx    *bookFixture
	bookErr   error
	bookRound atomic.Int32
)

// BenchmarkBook1000: from a taker's start to a complete book of 1,000
// offers over Tor. A node's pool holds 1,000 valid offers (1,000 bonds in
// 1,000 regtest transactions, 1,000 origin keys), put in its pool.db
// before it starts; a taker whose only pool peer is that node starts and
// gets them over Tor by the pool's join sync, validating each (a bond
// lookup on its own chain backend). ns/op is from the taker's process
// start (tor bootstrap, onion, first dial included) to its book listing
// all 1,000; s-connect-to-book from its first pool connection (polled
// every 50 ms) to the same point. Not part of the test run:
//
//	go test -tags itest -run XXX -bench Book1000 -benchtime 1x -count 3 ./itest/market/
func BenchmarkBook1000(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bookOnce.Do(func() { bookFx, bookErr = newBookFixture(ctx) })
	if bookErr != nil {
		b.Fatal(bookErr)
	}
	fx := bookFx
	var connect, book time.Duration
	var held int
	b.ResetTimer()
	for range b.N {
		c, bk, n := fx.join(b, ctx)
		connect, book, held = connect+c, book+bk, held+n
	}
	n := float64(b.N)
	b.ReportMetric(book.Seconds()/n, "s-start-to-book")
	b.ReportMetric((book-connect).Seconds()/n, "s-connect-to-book")
	b.ReportMetric(float64(held)/n/1e6, "MB-envelopes")
	b.ReportMetric(float64(fx.validate.Microseconds())/1000, "ms-validate/offer")
}

// join starts a taker whose only pool peer is the fixture's host and
// waits until its book holds every fixture offer; it returns the time from
// the process start to its first pool connection and to the complete
// book, and the envelope bytes its pool then holds.
func (fx *bookFixture) join(b *testing.B, ctx context.Context) (connect, book time.Duration, held int) {
	b.StopTimer()
	name := fmt.Sprintf("book-taker-%d", bookRound.Add(1))
	b.StartTimer()
	start := time.Now()
	tk, err := clu.Spawn(ctx, cluster.Spec{Name: name, Role: cluster.RoleTaker, Directories: []string{}, NoWait: true,
		Args: append([]string{"--pool-peer", fx.host.Onion()}, lineArgs...)})
	if err != nil {
		b.Fatal(err)
	}
	var st pool.Stats
	err = cluster.Poll(ctx, 50*time.Millisecond, name+": first pool connection", func() (bool, string) {
		st, err = control.Call[pool.Stats](ctx, tk.Client(), http.MethodGet, "/v1/pool/stats", nil)
		if err != nil {
			return false, err.Error()
		}
		return st.Outbound > 0, "no outbound peer"
	})
	if err != nil {
		b.Fatal(err)
	}
	connect = time.Since(start)
	// The pool's count is cheap to ask; the book (a decode and a cached
	// bond lookup per offer) is asked once the pool holds them all.
	err = cluster.Poll(ctx, 100*time.Millisecond, name+": every offer in the pool", func() (bool, string) {
		st, err = control.Call[pool.Stats](ctx, tk.Client(), http.MethodGet, "/v1/pool/stats", nil)
		if err != nil {
			return false, err.Error()
		}
		return st.Messages >= bookOffers, fmt.Sprintf("%d messages, refused %v", st.Messages, st.Refused)
	})
	if err != nil {
		b.Fatal(err)
	}
	err = cluster.Poll(ctx, 100*time.Millisecond, name+": every offer in the book", func() (bool, string) {
		s, err := control.Call[market.StatusReply](ctx, tk.Client(), http.MethodGet, "/v1/market/status", nil)
		if err != nil {
			return false, err.Error()
		}
		return s.Offers >= bookOffers, fmt.Sprintf("%d offers", s.Offers)
	})
	if err != nil {
		b.Fatal(err)
	}
	book = time.Since(start)
	b.StopTimer()
	defer b.StartTimer()
	es, err := offers(ctx, tk)
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for _, e := range es {
		if fx.origins[e.Origin] {
			got++
		}
	}
	if got != bookOffers {
		b.Fatalf("%s's book holds %d of the %d offers (%d entries)", name, got, bookOffers, len(es))
	}
	b.Logf("%s: first pool connection %s after its start, book of %d offers %s after it (%s in all); pool: %d fetched by sync, %d fetch timeouts, refused %v",
		name, connect.Round(time.Millisecond), got, (book - connect).Round(time.Millisecond), book.Round(time.Millisecond),
		st.SyncIDsFetched, st.FetchTimeouts, st.Refused)
	tk.Stop()
	return connect, book, st.Bytes
}

// newBookFixture funds the bonds, signs the offers, writes them into the
// pool.db of a new taker node (its host) before it starts, and starts it.
func newBookFixture(ctx context.Context) (*bookFixture, error) {
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()
	bonds, err := fundBonds(ctx)
	if err != nil {
		return nil, err
	}
	tip, err := clu.Tip(ctx)
	if err != nil {
		return nil, err
	}
	fx := &bookFixture{origins: map[string]bool{}}
	raws := make([][]byte, 0, bookOffers)
	for i, bd := range bonds {
		raw, origin, err := bd.envelope(i, uint32(tip)+bookCertBlocks)
		if err != nil {
			return nil, err
		}
		raws = append(raws, raw)
		fx.origins[origin] = true
		fx.bytes += len(raw)
	}
	if fx.validate, err = validateCost(ctx, raws); err != nil {
		return nil, err
	}
	const name = "book-host"
	if err := writePoolDB(ctx, filepath.Join(clu.Dir(), name, daemon.PoolDBName), raws); err != nil {
		return nil, err
	}
	// A taker needs somewhere to find makers: a directory (listing none),
	// so that the host has no pool peer to wait for.
	dir, err := clu.Spawn(ctx, cluster.Spec{Name: "book-dir", Role: cluster.RoleDirectory})
	if err != nil {
		return nil, err
	}
	fx.host, err = clu.Spawn(ctx, cluster.Spec{Name: name, Role: cluster.RoleTaker, Directories: []string{dir.Onion()},
		Args: lineArgs})
	if err != nil {
		return nil, err
	}
	// The host lists them too (its own bond lookups): the fixture is valid.
	err = cluster.Poll(ctx, 250*time.Millisecond, "the host's book", func() (bool, string) {
		s, err := control.Call[market.StatusReply](ctx, fx.host.Client(), http.MethodGet, "/v1/market/status", nil)
		if err != nil {
			return false, err.Error()
		}
		return s.Offers == bookOffers, fmt.Sprintf("%d offers", s.Offers)
	})
	return fx, err
}

// bookBond is one confirmed fidelity bond of the fixture.
type bookBond struct {
	key    *btcec.PrivateKey
	op     wire.OutPoint
	lock   uint32
	amount int64
}

// fundBonds creates bookOffers bonds, one transaction each (as makers
// create them), from one faucet payment split into their inputs, and
// confirms them.
func fundBonds(ctx context.Context) ([]*bookBond, error) {
	payer, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	payerPk, err := p2wpkh(payer)
	if err != nil {
		return nil, err
	}
	part := func(i int) int64 { return bookBondAmount + int64(i) + bookBondFee }
	var total int64
	for i := range bookOffers {
		total += part(i)
	}
	splitFee := int64(bookSplitFeeRate * (11 + 68 + 31*(bookOffers+1)))
	fund, err := clu.Regtest().FundScript(ctx, payerPk, btcutil.Amount(total+splitFee))
	if err != nil {
		return nil, err
	}
	var in *wire.OutPoint
	for i, o := range fund.TxOut {
		if string(o.PkScript) == string(payerPk) {
			in = wire.NewOutPoint(ptr(fund.TxHash()), uint32(i))
		}
	}
	split := wire.NewMsgTx(2)
	split.AddTxIn(wire.NewTxIn(in, nil, nil))
	for i := range bookOffers {
		split.AddTxOut(wire.NewTxOut(part(i), payerPk))
	}
	if err := signP2WPKH(split, payer, payerPk, []int64{total + splitFee}); err != nil {
		return nil, err
	}
	if _, err := clu.Backend().Broadcast(ctx, split); err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	if err := mineUntilConfirmed(ctx, split.TxHash()); err != nil {
		return nil, err
	}
	tip, err := clu.Tip(ctx)
	if err != nil {
		return nil, err
	}
	// Mined in one of the next blocks: the lock stays well inside the
	// policy's window whichever.
	lock := uint32(tip) + 1 + bookLockBlocks
	bonds := make([]*bookBond, bookOffers)
	var last *wire.MsgTx
	for i := range bookOffers {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		pk, err := script.BondPkScript(k.PubKey(), lock)
		if err != nil {
			return nil, err
		}
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(ptr(split.TxHash()), uint32(i)), nil, nil))
		tx.AddTxOut(wire.NewTxOut(bookBondAmount+int64(i), pk))
		if err := signP2WPKH(tx, payer, payerPk, []int64{part(i)}); err != nil {
			return nil, err
		}
		if _, err := clu.Backend().Broadcast(ctx, tx); err != nil {
			return nil, fmt.Errorf("bond %d: %w", i, err)
		}
		bonds[i] = &bookBond{key: k, op: wire.OutPoint{Hash: tx.TxHash()}, lock: lock, amount: bookBondAmount + int64(i)}
		last = tx
	}
	return bonds, mineUntilConfirmed(ctx, last.TxHash())
}

// mineUntilConfirmed waits for the auto-miner to confirm txid.
func mineUntilConfirmed(ctx context.Context, txid chainhash.Hash) error {
	return cluster.Poll(ctx, 250*time.Millisecond, "tx "+txid.String()+" confirmed", func() (bool, string) {
		_, st, err := clu.Backend().Tx(ctx, txid)
		if err != nil {
			return false, err.Error()
		}
		return st.Height > 0, "unconfirmed"
	})
}

func ptr[T any](v T) *T { return &v }

func p2wpkh(k *btcec.PrivateKey) ([]byte, error) {
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), clu.Params())
	if err != nil {
		return nil, err
	}
	return txscript.PayToAddrScript(a)
}

// signP2WPKH signs every input of tx, each spending values[i] from pk.
func signP2WPKH(tx *wire.MsgTx, k *btcec.PrivateKey, pk []byte, values []int64) error {
	prevs := map[wire.OutPoint]*wire.TxOut{}
	for i, in := range tx.TxIn {
		prevs[in.PreviousOutPoint] = wire.NewTxOut(values[i], pk)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevs)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		w, err := txscript.WitnessSignature(tx, hashes, i, values[i], pk, txscript.SigHashAll, k, true)
		if err != nil {
			return err
		}
		in.Witness = w
	}
	return nil
}

// envelope is offer i on bd, bound to a fresh origin key that signs it:
// the encoded envelope and the origin (hex).
func (bd *bookBond) envelope(i int, certExpiry uint32) ([]byte, string, error) {
	cert := &script.BondCert{OutPoint: bd.op, PubKey: bd.key.PubKey(), LockHeight: bd.lock, Amount: bd.amount,
		Onion: fakeOnion(i), ExpiryHeight: certExpiry}
	sig, err := cert.Sign(bd.key)
	if err != nil {
		return nil, "", err
	}
	origin, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: pool.TopicOffer, Item: market.OfferItem,
		Seq: uint64(now.UnixMilli()), Created: uint64(now.Unix()), Expiry: uint64(now.Add(bookOfferTTL).Unix())}
	if err := e.Sign(origin); err != nil { // sets the origin
		return nil, "", err
	}
	d := market.OriginDigest(e.Origin, certExpiry)
	mo := &protocol.MarketOffer{ProofKind: protocol.OfferProofBond, OriginSig: ecdsa.Sign(bd.key, d[:]).Serialize(),
		Offer: protocol.Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 100_000,
			MaxSize: 10_000_000 + int64(i)*1000, MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: bd.key.PubKey(),
			Fidelity: protocol.FidelityProof{BondOutPoint: cert.OutPoint, BondValue: cert.Amount, LockHeight: cert.LockHeight,
				BondPubKey: cert.PubKey, CertExpiry: cert.ExpiryHeight, Addr: cert.Onion, CertSig: sig}}}
	if e.Body, err = protocol.EncodeMarketOffer(mo); err != nil {
		return nil, "", err
	}
	if err := e.Sign(origin); err != nil { // over the body
		return nil, "", err
	}
	raw, err := e.Encode()
	return raw, hex.EncodeToString(e.Origin[:]), err
}

// fakeOnion is a well-formed v3 onion address nobody serves: the
// benchmark lists offers, it does not swap with them.
func fakeOnion(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("book offer %d", i)))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(append(h[:], h[:3]...))
	return strings.ToLower(enc) + ".onion:80"
}

// validateCost times one cold market.Validator check of each envelope,
// one after the other, as a joining node's validator makes them (block
// headers cached), on the chain backend's RPC (the processes go through
// the regtest relay: one more local hop per lookup): the mean.
func validateCost(ctx context.Context, raws [][]byte) (time.Duration, error) {
	v := market.NewValidator(market.CachedChain(clu.Backend()), script.DefaultBondParams(), nil)
	envs := make([]*protocol.PoolEnvelope, len(raws))
	for i, raw := range raws {
		e, err := protocol.DecodePoolEnvelope(raw)
		if err != nil {
			return 0, err
		}
		envs[i] = e
	}
	start := time.Now()
	for i, e := range envs {
		if got, err := v.Validate(ctx, e); got != pool.Accept {
			return 0, fmt.Errorf("offer %d: %v: %w", i, got, err)
		}
	}
	return time.Since(start) / time.Duration(len(envs)), nil
}

// writePoolDB creates the pool.db at path (the pool's own schema) holding
// raws as envelopes received from peers (not the node's own).
func writePoolDB(ctx context.Context, path string, raws [][]byte) error {
	p, err := pool.New(pool.Config{Network: protocol.Regtest, DBPath: path})
	if err != nil {
		return err
	}
	p.Stop()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: a no-op
	for _, raw := range raws {
		id := protocol.PoolIDOf(raw)
		e, err := protocol.DecodePoolEnvelope(raw)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (id, raw, own, expiry) VALUES (?, ?, 0, ?)`,
			id[:], raw, int64(e.Expiry)); err != nil {
			return fmt.Errorf("pool db: %w", err)
		}
	}
	return tx.Commit()
}
