package wallet

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/onionswap/onionswap/wallet/keys"
)

// Wallet errors. Chain failures (unreachable node, wrong RPC password, node
// on another network) arrive wrapped from package chain: test them with
// errors.Is(err, chain.ErrUnreachable) and friends.
var (
	// ErrWrongPassphrase: the encryption passphrase does not open the seed.
	// The wallet file is not modified.
	ErrWrongPassphrase = keys.ErrWrongPassphrase
	// ErrPassphraseRequired: the seed is encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("wallet is encrypted: a passphrase is required")
	// ErrNetworkMismatch: the wallet file or the chain backend belongs to
	// another network than the configured one.
	ErrNetworkMismatch = errors.New("wallet network mismatch")
	// ErrClosed: the wallet was closed.
	ErrClosed = errors.New("wallet closed")
	// ErrDust: an output (or the whole SendMax amount) is below the dust limit.
	ErrDust = errors.New("amount below the dust limit")
	// ErrNotSpendable: the wallet cannot sign for coins of this category by
	// itself (2-of-2 swap coins, contracts and bonds have their own spends).
	ErrNotSpendable = errors.New("category is not spendable by the generic builder")
	// ErrReservationLost: a coin reserved for a transaction was spent or
	// re-reserved meanwhile (the reservation outlived ReservationTTL).
	ErrReservationLost = errors.New("coin reservation lost")
	// ErrUnknownTx: no stored transaction with that txid.
	ErrUnknownTx = errors.New("unknown wallet transaction")
	// ErrTxState: the stored transaction is not in a state that allows the
	// operation (e.g. abandoning a confirmed transaction).
	ErrTxState = errors.New("wallet transaction in the wrong state")
	// ErrUnknownBond: no bond of ours at that outpoint.
	ErrUnknownBond = errors.New("unknown fidelity bond")
	// ErrBroadcast: the node refused a transaction; it wraps the chain
	// error (chain.ErrRejected, chain.ErrDoubleSpend, chain.ErrMissingInputs)
	// and carries the node's reason.
	ErrBroadcast = errors.New("transaction refused by the node")
)

// InsufficientFundsError says how much is missing and where to send it.
// errors.Is(err, ErrInsufficientFunds) matches it.
type InsufficientFundsError struct {
	Category Category
	// Need is what the transaction needs including its fee; Have is the
	// spendable (confirmed, unreserved) value of the category.
	Need, Have btcutil.Amount
	// Address is a fresh receive address to top the wallet up (set by
	// CreateBond; empty elsewhere).
	Address string
	// OfferLocked is the value of the coins left out because they back
	// the published offer (a send may not use them).
	OfferLocked btcutil.Amount
}

// ErrInsufficientFunds is the sentinel InsufficientFundsError matches.
var ErrInsufficientFunds = errors.New("insufficient funds")

func (e *InsufficientFundsError) Error() string {
	short := e.Need - e.Have
	if e.Address != "" {
		return fmt.Sprintf("insufficient funds: %s coins: have %s, need %s: send at least %s to %s",
			e.Category, e.Have, e.Need, short, e.Address)
	}
	if e.OfferLocked > 0 {
		return fmt.Sprintf("insufficient funds: %s coins: have %s, need %s (%s short); %s more back the published offer: withdraw it first (onionswap market withdraw)",
			e.Category, e.Have, e.Need, short, e.OfferLocked)
	}
	return fmt.Sprintf("insufficient funds: %s coins: have %s, need %s (%s short)", e.Category, e.Have, e.Need, short)
}

// Is makes errors.Is(err, ErrInsufficientFunds) true.
func (e *InsufficientFundsError) Is(target error) bool { return target == ErrInsufficientFunds }

// ErrNotEncrypted: a passphrase was given for a wallet whose seed is stored
// in clear (refused rather than ignored, so nobody believes it is encrypted).
var ErrNotEncrypted = errors.New("wallet seed is not encrypted, but a passphrase was given")
