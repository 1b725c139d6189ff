package control

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// File names inside the data directory.
const (
	// SocketName is the control socket.
	SocketName = "control.sock"
	// CookieName is the cookie file written at each daemon start.
	CookieName = "control.cookie"
)

// Readiness states reported in Status.State.
const (
	StateStarting     = "starting"      // control API up, subsystems starting
	StateWaitingChain = "waiting-chain" // the chain backend does not answer (fail closed)
	StateWaitingTor   = "waiting-tor"   // tor bootstrapping or onion being published
	StateReady        = "ready"         // role running and healthy
	StateDegraded     = "degraded"      // role running, chain or tor unhealthy: new swaps refused
	StateStopping     = "stopping"
)

// Status is the node's overall state.
type Status struct {
	Version string `json:"version"`
	Role    string `json:"role"`
	Network string `json:"network"`
	PID     int    `json:"pid"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Ready: every service of the node does its job (chain and tor
	// healthy, onion service published, each service ready: a maker's
	// bond confirmed and registered with a directory, ...).
	Ready bool `json:"ready"`
	// Blocker says what keeps the node from being ready ("" when ready),
	// in words an operator can act on.
	Blocker string `json:"blocker,omitempty"`
	// Services: the readiness of each service the node runs.
	Services map[string]Readiness `json:"services,omitempty"`
	// Healthy: chain backend and tor answer right now.
	Healthy bool `json:"healthy"`
	// Onion is this node's own onion address (a taker's is new at every
	// start).
	Onion string `json:"onion,omitempty"`
	// TipHeight/TipHash: the chain backend's tip at the last health check.
	TipHeight int32  `json:"tip_height"`
	TipHash   string `json:"tip_hash,omitempty"`
	// WalletHeight is the last block the wallet processed (0: no wallet).
	WalletHeight int32 `json:"wallet_height,omitempty"`
	// ChainError / TorError explain an unhealthy state.
	ChainError string `json:"chain_error,omitempty"`
	TorError   string `json:"tor_error,omitempty"`
	// TorBootstrap: tor's bootstrap progress in percent (0: not started
	// yet), and what it is doing.
	TorBootstrap        int    `json:"tor_bootstrap,omitempty"`
	TorBootstrapSummary string `json:"tor_bootstrap_summary,omitempty"`
	// TorPoWDefense: tor runs our onion service with its proof-of-work
	// defence against introduction floods (tor 0.4.9 or later).
	TorPoWDefense bool `json:"tor_pow_defense"`
	// TorRestarts counts tor sessions replaced by the tor health loop.
	TorRestarts int `json:"tor_restarts,omitempty"`
	// Dashboard: the web dashboard's local URL ("" when it is off); log in
	// with the control cookie or the dashboard password.
	Dashboard string `json:"dashboard,omitempty"`
	// DashboardOnion: the dashboard's own onion address, reachable only
	// with the client key in DATADIR/dashboard.auth_private (--dashboard-onion).
	DashboardOnion string `json:"dashboard_onion,omitempty"`
	// ChatUnread: messages of the node's chat conversations not read yet.
	ChatUnread int `json:"chat_unread,omitempty"`
	// Faults lists the fault-injection plan (regtest only).
	Faults  []string  `json:"faults,omitempty"`
	Started time.Time `json:"started"`
}

// Balance of one coin category, in satoshis.
type Balance struct {
	Confirmed   int64 `json:"confirmed"`
	Unconfirmed int64 `json:"unconfirmed"`
}

// Total is Confirmed + Unconfirmed.
func (b Balance) Total() int64 { return b.Confirmed + b.Unconfirmed }

// Balances by category name (wallet.Category strings: regular, swept,
// swap_incoming, contract, fidelity_bond).
type Balances struct {
	Categories map[string]Balance `json:"categories"`
	// Height is the wallet's synced height the balances are computed at.
	Height int32 `json:"height"`
}

// Coin is one wallet output.
type Coin struct {
	OutPoint      string `json:"outpoint"`
	Value         int64  `json:"value"`
	Category      string `json:"category"`
	Address       string `json:"address,omitempty"`
	Height        int32  `json:"height"`
	Confirmations int32  `json:"confirmations"`
	Coinbase      bool   `json:"coinbase,omitempty"`
	SpentBy       string `json:"spent_by,omitempty"`
	Reserved      bool   `json:"reserved,omitempty"`
	// AnonSet: outputs of the creating transaction with this value (0 =
	// unknown); Traceable: AnonSet is below wallet.DefaultAnonTarget.
	AnonSet   int  `json:"anon_set"`
	Traceable bool `json:"traceable"`
}

// Address kinds for AddressRequest.
const (
	AddressReceive = "receive" // BIP84 external branch (category regular)
	AddressSwept   = "swept"   // the swept-coins account (category swept)
)

// AddressRequest asks for a fresh address.
type AddressRequest struct {
	Kind string `json:"kind,omitempty"` // AddressReceive (default) or AddressSwept
}

// AddressReply is a fresh address.
type AddressReply struct {
	Address string `json:"address"`
}

// SendRequest pays Amount satoshis (or everything of Category with Max).
type SendRequest struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount,omitempty"`
	// Max sends every confirmed coin of Category (regular when empty).
	Max      bool   `json:"max,omitempty"`
	Category string `json:"category,omitempty"`
	// FeeRate in sat/kvB; 0 = the backend's estimate.
	FeeRate int64 `json:"fee_rate,omitempty"`
}

// SendReply is the transaction that was broadcast.
type SendReply struct {
	Txid string `json:"txid"`
	Fee  int64  `json:"fee"`
}

// SwapInfo is one persisted swap as the engine reports it.
type SwapInfo struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Phase   string    `json:"phase"`
	Amount  int64     `json:"amount"`
	TxCount int       `json:"tx_count,omitempty"`
	Final   bool      `json:"final"`
	Outcome string    `json:"outcome,omitempty"`
	Error   string    `json:"error,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Detail is the engine's own view (hops, txids), as it serializes it.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Legs: a taker's makers, each with the id it knows the swap by (a
	// different random one per maker, so makers cannot match their hops);
	// a chat about the swap with a maker is under that id.
	Legs []SwapLeg `json:"legs,omitempty"`
}

// SwapLeg is one maker of a taker's swap.
type SwapLeg struct {
	Addr string `json:"addr"`
	ID   string `json:"id"`
}

// TakerSwapRequest starts a swap as taker.
type TakerSwapRequest struct {
	Amount  int64 `json:"amount"`
	Makers  int   `json:"makers"`
	TxCount int   `json:"tx_count"`
	// Directories overrides the daemon's configured directories.
	Directories []string `json:"directories,omitempty"`
	// Offers names the makers of the route (their onion addresses, as
	// `market offers` lists them), instead of a choice from the book and
	// the directories; Makers is then their number.
	Offers []string `json:"offers,omitempty"`
}

// MakerFee is what one maker of the route earned.
type MakerFee struct {
	// Maker is the hop's position (1-based); the address is not reported.
	Hop int   `json:"hop"`
	Fee int64 `json:"fee"`
	// Reimbursement is the mining-fee allowance paid to the maker.
	Reimbursement int64 `json:"reimbursement"`
}

// Phase is the duration of one swap phase.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
	// BlockWait is the part spent waiting for confirmations.
	BlockWait time.Duration `json:"block_wait,omitempty"`
}

// SwapReport is the result of a taker swap.
type SwapReport struct {
	SwapID         string        `json:"swap_id"`
	Outcome        string        `json:"outcome"`
	Makers         int           `json:"makers"`
	TxCount        int           `json:"tx_count"`
	AmountSent     int64         `json:"amount_sent"`
	AmountReceived int64         `json:"amount_received"`
	MakerFees      []MakerFee    `json:"maker_fees,omitempty"`
	MiningFees     int64         `json:"mining_fees"`
	Txids          []string      `json:"txids,omitempty"`
	Phases         []Phase       `json:"phases,omitempty"`
	Duration       time.Duration `json:"duration"`
	// BlockWait is the part of Duration spent waiting for confirmations.
	BlockWait time.Duration `json:"block_wait"`
	// Wire statistics of the taker's maker connections.
	RoundTrips     int    `json:"round_trips"`
	Connections    int    `json:"connections"`
	BytesSent      uint64 `json:"bytes_sent"`
	BytesReceived  uint64 `json:"bytes_received"`
	Attempts       int    `json:"attempts"`
	ReplacedMakers int    `json:"replaced_makers"`
	// Detail: fee breakdown (maker fees, reimbursements, funding and
	// sweep fees).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// RecoverReply is what a taker recovery did.
type RecoverReply struct {
	Swaps []SwapInfo `json:"swaps"`
	// Unfinished counts the swaps still waiting (e.g. for a timelock).
	Unfinished int `json:"unfinished"`
	// Detail is the engine's own report.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// MakerStatus is the maker role's state.
type MakerStatus struct {
	Onion string `json:"onion,omitempty"`
	// Bond is the fidelity bond in use (nil while it is being created or
	// waits for funds: see BondNeeded).
	Bond *BondInfo `json:"bond,omitempty"`
	// BondNeeded explains what the wallet lacks to create the bond.
	BondNeeded string `json:"bond_needed,omitempty"`
	// Registered maps each configured directory to the last successful
	// registration time (zero: never).
	Registered map[string]time.Time `json:"registered,omitempty"`
	// Reservations is the liquidity reserved by swaps in progress.
	Reservations []Reservation `json:"reservations,omitempty"`
	// Offer as served to takers.
	Offer json.RawMessage `json:"offer,omitempty"`
	// Swaps in progress.
	ActiveSwaps int `json:"active_swaps"`
}

// BondInfo describes a fidelity bond.
type BondInfo struct {
	OutPoint   string  `json:"outpoint"`
	Amount     int64   `json:"amount"`
	LockHeight uint32  `json:"lock_height"`
	ConfHeight int32   `json:"conf_height"`
	Status     string  `json:"status"`
	Value      float64 `json:"value,omitempty"`
}

// Reservation is liquidity held by one swap.
type Reservation struct {
	SwapID string `json:"swap_id"`
	Amount int64  `json:"amount"`
}

// DirectoryEntry is one maker listed by a directory.
type DirectoryEntry struct {
	Onion      string    `json:"onion"`
	BondOutPt  string    `json:"bond_outpoint"`
	BondAmount int64     `json:"bond_amount"`
	BondValue  float64   `json:"bond_value,omitempty"`
	Registered time.Time `json:"registered"`
	Expires    time.Time `json:"expires"`
}

// errorBody is the JSON of an error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Readiness of one of the node's services (node/service).
type Readiness struct {
	Ready bool `json:"ready"`
	// Blocker says what keeps the service from being ready ("" when
	// ready), in words an operator can act on.
	Blocker string `json:"blocker,omitempty"`
}

// ParseSwapID decodes a hex swap id from a request path.
func ParseSwapID(s string) (protocol.SwapID, error) {
	var id protocol.SwapID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: swap id %q: want %d hex bytes", ErrBadRequest, s, len(id))
	}
	copy(id[:], b)
	return id, nil
}
