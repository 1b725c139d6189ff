package market

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
)

// Blacklist limits and intervals.
const (
	// BlacklistRefresh: how often the in-memory copy is reloaded from the
	// wallet database, for entries added elsewhere (the taker lists a
	// maker that failed a swap by its own fault) and expiries. Checks run
	// on the relay path, so they read memory, never the database.
	BlacklistRefresh = 30 * time.Second
	// MaxListFileSize and MaxListEntries bound an imported file before it
	// is parsed: 10,000 entries (the pool's whole capacity) of ~150 bytes.
	MaxListFileSize = 2 << 20
	MaxListEntries  = 10_000
	// MaxListReason bounds a reason (a sentence, like a protocol Error).
	MaxListReason = 200
	// ListFileVersion is the only export format this code writes and reads.
	ListFileVersion = 1
	// listTag tags the digest an exported list's signature signs.
	listTag = "onionswap/blacklist"
)

// ErrList: a blacklist entry or file is invalid.
var ErrList = errors.New("market: blacklist")

// ListStore is where the list lives (the wallet database) and the key
// that signs its exports.
type ListStore interface {
	BlacklistAdd(ctx context.Context, e wallet.BlacklistEntry) error
	BlacklistRemove(ctx context.Context, kind, value string) (bool, error)
	Blacklist(ctx context.Context, kind string, now time.Time) ([]wallet.BlacklistEntry, error)
	ListKey() (*btcec.PrivateKey, error)
}

// Blacklist is the node's local list of parties whose offers are hidden
// and not relayed, and whom its taker does not swap with. It is local
// policy: never gossiped; shared only as a signed file that another node
// may import.
type Blacklist struct {
	st  ListStore
	now func() time.Time

	mu     sync.Mutex
	listed map[string]wallet.BlacklistEntry // kind + " " + value
	loaded time.Time
}

// NewBlacklist returns the blacklist kept in st (now: nil for time.Now).
func NewBlacklist(st ListStore, now func() time.Time) *Blacklist {
	if now == nil {
		now = time.Now
	}
	return &Blacklist{st: st, now: now}
}

// CheckEntry validates an entry's kind, value and reason.
func CheckEntry(kind, value, reason string) error {
	if len(reason) > MaxListReason {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrList, MaxListReason)
	}
	switch kind {
	case wallet.ListOrigin:
		if b, err := hex.DecodeString(value); err != nil || len(b) != protocol.XOnlyKeySize {
			return fmt.Errorf("%w: origin %q: want %d hex bytes", ErrList, value, protocol.XOnlyKeySize)
		}
	case wallet.ListOnion:
		if _, err := tor.ParseOnionAddr(value); err != nil {
			return fmt.Errorf("%w: onion %q: %v", ErrList, value, err)
		}
	case wallet.ListBond, wallet.ListIntegrity:
		txid, vout, ok := strings.Cut(value, ":")
		if _, err := chainhash.NewHashFromStr(txid); !ok || err != nil || len(txid) != 64 {
			return fmt.Errorf("%w: %s %q: want txid:vout", ErrList, kind, value)
		}
		if _, err := strconv.ParseUint(vout, 10, 32); err != nil {
			return fmt.Errorf("%w: %s %q: want txid:vout", ErrList, kind, value)
		}
	default:
		return fmt.Errorf("%w: kind %q (origin, onion, bond or integrity)", ErrList, kind)
	}
	return nil
}

// Add lists a party for d (0: for good).
func (b *Blacklist) Add(ctx context.Context, kind, value, reason string, d time.Duration) error {
	if err := CheckEntry(kind, value, reason); err != nil {
		return err
	}
	e := wallet.BlacklistEntry{Kind: kind, Value: value, Reason: reason, Added: b.now(), Source: wallet.ListSourceLocal}
	if d > 0 {
		e.Until = e.Added.Add(d)
	}
	if err := b.st.BlacklistAdd(ctx, e); err != nil {
		return err
	}
	return b.reload(ctx)
}

// Remove unlists a party; it reports whether it was listed.
func (b *Blacklist) Remove(ctx context.Context, kind, value string) (bool, error) {
	ok, err := b.st.BlacklistRemove(ctx, kind, value)
	if err != nil {
		return false, err
	}
	return ok, b.reload(ctx)
}

// List returns the live entries.
func (b *Blacklist) List(ctx context.Context) ([]wallet.BlacklistEntry, error) {
	return b.st.Blacklist(ctx, "", b.now())
}

func (b *Blacklist) reload(ctx context.Context) error {
	es, err := b.st.Blacklist(ctx, "", b.now())
	if err != nil {
		return err
	}
	m := make(map[string]wallet.BlacklistEntry, len(es))
	for _, e := range es {
		m[e.Kind+" "+e.Value] = e
	}
	b.mu.Lock()
	b.listed, b.loaded = m, b.now()
	b.mu.Unlock()
	return nil
}

// Listed reports whether one of the parties an offer names is listed,
// and why: its origin, its onion address, its bond or its integrity
// output (m nil: the origin only). It reads memory, reloaded every
// BlacklistRefresh; if the database cannot be read, the last copy
// answers.
func (b *Blacklist) Listed(ctx context.Context, origin [protocol.XOnlyKeySize]byte, m *protocol.MarketOffer) (string, bool) {
	b.refresh(ctx)
	keys := []string{wallet.ListOrigin + " " + hex.EncodeToString(origin[:])}
	if m != nil {
		keys = append(keys, wallet.ListOnion+" "+m.MakerAddr())
		if m.Offer.HasBond() {
			keys = append(keys, wallet.ListBond+" "+m.Offer.Fidelity.BondOutPoint.String())
		}
		if p := m.Integrity; p != nil && p.Tx != nil {
			keys = append(keys, wallet.ListIntegrity+" "+integrityOutPoint(p).String())
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if e, ok := b.listed[k]; ok {
			return fmt.Sprintf("%s listed: %s", e.Kind, e.Reason), true
		}
	}
	return "", false
}

func (b *Blacklist) refresh(ctx context.Context) {
	b.mu.Lock()
	stale := b.listed == nil || b.now().Sub(b.loaded) >= BlacklistRefresh
	b.mu.Unlock()
	if stale {
		_ = b.reload(ctx)
	}
}

// Inherit lists an integrity payment whose transaction spends a listed
// integrity output, for as long as that one is listed: the seed's chain
// of spending, which follows a listed trader from one daily payment to
// the next. It reports whether it did, and why.
func (b *Blacklist) Inherit(ctx context.Context, p *protocol.IntegrityProof) (string, bool) {
	b.refresh(ctx)
	child := integrityOutPoint(p)
	var parent wallet.BlacklistEntry
	found := false
	b.mu.Lock()
	for _, in := range p.Tx.TxIn {
		if e, ok := b.listed[wallet.ListIntegrity+" "+in.PreviousOutPoint.String()]; ok {
			parent, found = e, true
			break
		}
	}
	b.mu.Unlock()
	if !found {
		return "", false
	}
	reason := truncate("spends listed "+parent.Value+": "+parent.Reason, MaxListReason)
	e := wallet.BlacklistEntry{Kind: wallet.ListIntegrity, Value: child.String(), Reason: reason, Added: b.now(),
		Until: parent.Until, Source: parent.Source}
	if err := b.st.BlacklistAdd(ctx, e); err == nil {
		_ = b.reload(ctx)
	}
	return "integrity listed: " + reason, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// ListFile is an exported blacklist: the entries, signed by the exporting
// node's list key (BIP340 over the tagged hash of the canonical JSON of
// Version, Created and Entries).
type ListFile struct {
	Version int         `json:"onionswap_blacklist"`
	Created time.Time   `json:"created"`
	Entries []ListEntry `json:"entries"`
	Signer  string      `json:"signer"` // x-only key, hex
	Sig     string      `json:"sig"`    // BIP340, hex
}

// ListEntry is an entry as exported: where it came from stays home.
type ListEntry struct {
	Kind   string    `json:"kind"`
	Value  string    `json:"value"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until,omitzero"`
}

func listDigest(f *ListFile) ([32]byte, error) {
	b, err := json.Marshal(struct {
		Version int         `json:"v"`
		Created int64       `json:"c"`
		Entries []ListEntry `json:"e"`
	}{f.Version, f.Created.Unix(), f.Entries})
	if err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(listTag), b), nil
}

// Export returns the live entries as a signed file.
func (b *Blacklist) Export(ctx context.Context) (*ListFile, error) {
	es, err := b.List(ctx)
	if err != nil {
		return nil, err
	}
	f := &ListFile{Version: ListFileVersion, Created: b.now().UTC().Truncate(time.Second), Entries: []ListEntry{}}
	for _, e := range es {
		f.Entries = append(f.Entries, ListEntry{Kind: e.Kind, Value: e.Value, Reason: e.Reason, Until: e.Until})
	}
	key, err := b.st.ListKey()
	if err != nil {
		return nil, err
	}
	defer key.Zero()
	d, err := listDigest(f)
	if err != nil {
		return nil, err
	}
	sig, err := protocol.SchnorrSign(key, d[:])
	if err != nil {
		return nil, err
	}
	f.Signer, f.Sig = hex.EncodeToString(schnorr.SerializePubKey(key.PubKey())), hex.EncodeToString(sig[:])
	return f, nil
}

// ParseListFile decodes and verifies an exported list: bounded before it
// is parsed, signed by its signer, every entry valid.
func ParseListFile(data []byte) (*ListFile, error) {
	if len(data) > MaxListFileSize {
		return nil, fmt.Errorf("%w: file of %d bytes > %d", ErrList, len(data), MaxListFileSize)
	}
	f := new(ListFile)
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrList, err)
	}
	return f, VerifyListFile(f)
}

// VerifyListFile checks a decoded list: its version, size, signature and
// every entry.
func VerifyListFile(f *ListFile) error {
	switch {
	case f.Version != ListFileVersion:
		return fmt.Errorf("%w: not an onionswap blacklist (version %d)", ErrList, f.Version)
	case len(f.Entries) > MaxListEntries:
		return fmt.Errorf("%w: %d entries > %d", ErrList, len(f.Entries), MaxListEntries)
	}
	pk, err := hex.DecodeString(f.Signer)
	if err != nil {
		return fmt.Errorf("%w: signer: %v", ErrList, err)
	}
	pub, err := schnorr.ParsePubKey(pk)
	if err != nil {
		return fmt.Errorf("%w: signer: %v", ErrList, err)
	}
	sb, err := hex.DecodeString(f.Sig)
	if err != nil {
		return fmt.Errorf("%w: signature: %v", ErrList, err)
	}
	sig, err := schnorr.ParseSignature(sb)
	if err != nil {
		return fmt.Errorf("%w: signature: %v", ErrList, err)
	}
	d, err := listDigest(f)
	if err != nil {
		return err
	}
	if !sig.Verify(d[:], pub) {
		return fmt.Errorf("%w: the signature does not verify (altered or forged)", ErrList)
	}
	for i, e := range f.Entries {
		if err := CheckEntry(e.Kind, e.Value, e.Reason); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// Import lists a verified file's live entries, each marked as coming from
// its signer (local policy: nothing is gossiped). It returns how many
// were listed.
func (b *Blacklist) Import(ctx context.Context, f *ListFile) (int, error) {
	now := b.now()
	src := "import:" + f.Signer[:16]
	n := 0
	for _, e := range f.Entries {
		if !e.Until.IsZero() && !e.Until.After(now) {
			continue
		}
		if err := b.st.BlacklistAdd(ctx, wallet.BlacklistEntry{Kind: e.Kind, Value: e.Value, Reason: e.Reason,
			Added: now, Until: e.Until, Source: src}); err != nil {
			return n, err
		}
		n++
	}
	return n, b.reload(ctx)
}
