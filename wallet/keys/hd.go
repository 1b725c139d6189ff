package keys

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// Purposes and fixed path elements (see the package comment for the layout).
const (
	// PurposeBIP84 is the BIP43 purpose of P2WPKH accounts.
	PurposeBIP84 = 84
	// PurposeNode is the purpose of the swap node's own keys (175', as in the
	// citadel-tech/coinswap reference).
	PurposeNode = 175

	nodeTweakable = 0 // m/175'/coin'/0'
	nodeBond      = 1 // m/175'/coin'/1'/i'
	nodeSwap      = 2 // m/175'/coin'/2'/s'/k'
	nodeOnion     = 3 // m/175'/coin'/3'
	nodeList      = 4 // m/175'/coin'/4'
	nodeIntegrity = 5 // m/175'/coin'/5'/i'

	h = hdkeychain.HardenedKeyStart
)

// ErrInvalidChild is returned in the < 2^-127 case where BIP32 gives no key
// for an index; callers skip to the next index.
var ErrInvalidChild = hdkeychain.ErrInvalidChild

// Branch names a P2WPKH address chain.
type Branch uint8

// The P2WPKH branches the wallet hands out addresses from.
const (
	// BranchExternal is m/84'/coin'/0'/0: receive addresses.
	BranchExternal Branch = 0
	// BranchInternal is m/84'/coin'/0'/1: change.
	BranchInternal Branch = 1
	// BranchSwept is m/84'/coin'/1'/0: destination of swept swap coins, kept
	// apart so coin selection never mixes them with regular coins.
	BranchSwept Branch = 2
	// BranchIntegrity is m/175'/coin'/5'/i': the integrity outputs of the
	// integrity-fee chain (see the package comment). Unlike the BIP84
	// branches every index is hardened, so the branch has no extended
	// public key; it is still a P2WPKH address chain with a gap limit, so
	// the wallet watches and restores it like the others.
	BranchIntegrity Branch = 3
)

// Branches lists every P2WPKH branch, in storage order.
var Branches = []Branch{BranchExternal, BranchInternal, BranchSwept, BranchIntegrity}

// path returns the (account, change) pair under m/84'/coin'.
func (b Branch) path() (account, change uint32, err error) {
	switch b {
	case BranchExternal:
		return 0, 0, nil
	case BranchInternal:
		return 0, 1, nil
	case BranchSwept:
		return 1, 0, nil
	}
	return 0, 0, fmt.Errorf("unknown branch %d", b)
}

func (b Branch) String() string {
	switch b {
	case BranchExternal:
		return "external"
	case BranchInternal:
		return "internal"
	case BranchSwept:
		return "swept"
	case BranchIntegrity:
		return "integrity"
	}
	return fmt.Sprintf("branch(%d)", uint8(b))
}

// CoinType is the BIP44 coin type: 0 on mainnet, 1 on every test network
// (testnet, signet, regtest), as BIP44/SLIP-44 specify.
func CoinType(params *chaincfg.Params) uint32 {
	if params.Net == wire.MainNet {
		return 0
	}
	return 1
}

// Keyring derives every key of one wallet from its seed. It caches the
// branch-level extended keys so each address costs one non-hardened step.
type Keyring struct {
	params   *chaincfg.Params
	coin     uint32
	root     *hdkeychain.ExtendedKey
	branches map[Branch]*hdkeychain.ExtendedKey
	node     *hdkeychain.ExtendedKey // m/175'/coin'
}

// String redacts the keyring.
func (k *Keyring) String() string { return "[redacted keyring]" }

// LogValue redacts the keyring in log/slog output.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// NewKeyring builds the key tree of seed for params.
func NewKeyring(seed *Seed, params *chaincfg.Params) (*Keyring, error) {
	if seed == nil || params == nil {
		return nil, errors.New("keyring: nil seed or params")
	}
	root, err := hdkeychain.NewMaster(seed[:], params)
	if err != nil {
		return nil, fmt.Errorf("keyring: master key: %w", err)
	}
	k := &Keyring{params: params, coin: CoinType(params), root: root, branches: map[Branch]*hdkeychain.ExtendedKey{}}
	for _, b := range Branches {
		if b == BranchIntegrity {
			continue // under the node's purpose, below
		}
		acct, change, _ := b.path()
		ek, err := derivePath(root, PurposeBIP84+h, k.coin+h, acct+h, change)
		if err != nil {
			return nil, fmt.Errorf("keyring: branch %s: %w", b, err)
		}
		k.branches[b] = ek
	}
	if k.node, err = derivePath(root, PurposeNode+h, k.coin+h); err != nil {
		return nil, fmt.Errorf("keyring: node branch: %w", err)
	}
	if k.branches[BranchIntegrity], err = derivePath(k.node, nodeIntegrity+h); err != nil {
		return nil, fmt.Errorf("keyring: branch %s: %w", BranchIntegrity, err)
	}
	return k, nil
}

// Params returns the network the keys are for.
func (k *Keyring) Params() *chaincfg.Params { return k.params }

// Zero wipes the cached private extended keys. The keyring is unusable after.
func (k *Keyring) Zero() {
	k.root.Zero()
	for _, b := range k.branches {
		b.Zero()
	}
	k.node.Zero()
}

// MasterXPriv is the BIP32 root, serialised; tests compare it with the
// published vectors. Never log it.
func (k *Keyring) MasterXPriv() string { return k.root.String() }

func derivePath(ek *hdkeychain.ExtendedKey, path ...uint32) (*hdkeychain.ExtendedKey, error) {
	var err error
	for _, i := range path {
		if ek, err = ek.Derive(i); err != nil {
			return nil, err
		}
	}
	return ek, nil
}

// P2WPKHKey returns the private key at m/84'/coin'/account'/change/index,
// or at m/175'/coin'/5'/index' for BranchIntegrity.
func (k *Keyring) P2WPKHKey(b Branch, index uint32) (*btcec.PrivateKey, error) {
	if index >= h {
		return nil, fmt.Errorf("address index %d out of range", index)
	}
	bk, ok := k.branches[b]
	if !ok {
		return nil, fmt.Errorf("unknown branch %d", b)
	}
	child := index
	if b == BranchIntegrity {
		child += h
	}
	ek, err := bk.Derive(child)
	if err != nil {
		return nil, err
	}
	return ek.ECPrivKey()
}

// P2WPKHAddress returns the BIP84 address at (b, index) with its public key.
func (k *Keyring) P2WPKHAddress(b Branch, index uint32) (*btcutil.AddressWitnessPubKeyHash, *btcec.PublicKey, error) {
	priv, err := k.P2WPKHKey(b, index)
	if err != nil {
		return nil, nil, err
	}
	pub := priv.PubKey()
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), k.params)
	if err != nil {
		return nil, nil, err
	}
	return addr, pub, nil
}

// TweakablePoint returns the maker's identity key p; P = p·G is published and
// every swap key of the maker is P + n·G for a taker-chosen nonce n.
func (k *Keyring) TweakablePoint() (*btcec.PrivateKey, error) {
	return k.nodeKey(nodeTweakable + h)
}

// BondKey returns fidelity bond key number i (m/175'/coin'/1'/i').
func (k *Keyring) BondKey(i uint32) (*btcec.PrivateKey, error) {
	if i >= h {
		return nil, fmt.Errorf("bond index %d out of range", i)
	}
	return k.nodeKey(nodeBond+h, i+h)
}

// SwapKey returns the taker's key number key of swap number swap
// (m/175'/coin'/2'/swap'/key'). The swap code assigns the key numbers
// (e.g. 3 per funding output: multisig, hashlock, timelock).
func (k *Keyring) SwapKey(swap, key uint32) (*btcec.PrivateKey, error) {
	if swap >= h || key >= h {
		return nil, fmt.Errorf("swap key (%d, %d) out of range", swap, key)
	}
	return k.nodeKey(nodeSwap+h, swap+h, key+h)
}

// OnionIdentitySeed returns 32 bytes that seed the onion service's ed25519
// key, so the words restore the node's .onion address.
func (k *Keyring) OnionIdentitySeed() ([32]byte, error) {
	var out [32]byte
	priv, err := k.nodeKey(nodeOnion + h)
	if err != nil {
		return out, err
	}
	b := priv.Key.Bytes()
	copy(out[:], b[:])
	priv.Zero()
	return out, nil
}

// ListKey signs the blacklists the node exports (market), so whoever
// imports one knows whose it is; from the seed, so it survives a restore.
func (k *Keyring) ListKey() (*btcec.PrivateKey, error) {
	return k.nodeKey(nodeList + h)
}

func (k *Keyring) nodeKey(path ...uint32) (*btcec.PrivateKey, error) {
	ek, err := derivePath(k.node, path...)
	if err != nil {
		return nil, err
	}
	return ek.ECPrivKey()
}
