package swap

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Role of a swap record.
type Role string

const (
	RoleTaker Role = "taker"
	RoleMaker Role = "maker"
)

// Phase of a swap. Each is committed to SQLite before the action it enables.
type Phase string

// Maker phases.
const (
	MakerReserved          Phase = "reserved"           // SetupHop checked, liquidity reserved, reply sent after commit
	MakerIncomingConfirmed Phase = "incoming_confirmed" // FundHop checked, incoming confirmed on our node
	MakerFundingBroadcast  Phase = "funding_broadcast"  // committed before broadcasting our funding
	MakerPreimageKnown     Phase = "preimage_known"
	MakerKeysSent          Phase = "keys_sent" // committed before handing our outgoing keys over
	MakerIncomingKeysKnown Phase = "incoming_keys_known"
	MakerSwept             Phase = "swept" // sweeps published
	MakerComplete          Phase = "complete"
)

// Taker phases.
const (
	TakerNegotiating   Phase = "negotiating"
	TakerSetupDone     Phase = "setup_done"
	TakerHop0Broadcast Phase = "hop0_broadcast" // committed before broadcasting hop 0
	TakerFunded        Phase = "funded"         // Funded[i]: maker i broadcast its hop (see TakerSwap.FundedHops)
	TakerSettling      Phase = "settling"
	TakerPrivkeysSent  Phase = "privkeys_sent" // PrivkeysSent[i]: see TakerSwap.SettledMakers
	TakerSweeping      Phase = "sweeping"
	TakerComplete      Phase = "complete"
	TakerFailed        Phase = "failed" // nothing funded
)

// Shared phases.
const (
	PhaseAbandoned  Phase = "abandoned" // nothing of ours funded; reservations released
	PhaseRecovering Phase = "recovering"
	PhaseRecovered  Phase = "recovered"
)

// Crash points between commits, for crash-after=<point> (fault
// injection): not phases a record is ever in, but the moments a random
// kill found coins stuck at.
const (
	// CrashFundingHeld: the first held funding transaction is committed,
	// the swap record that owns it is not yet (Engine.ReleaseOrphanHeld).
	CrashFundingHeld Phase = "funding_held"
	// CrashFirstSweep: the first of several sweeps is published, the
	// others and the record's update are not yet.
	CrashFirstSweep Phase = "first_sweep"
)

// Final reports whether no more work will ever be done for the phase.
func (p Phase) Final() bool {
	switch p {
	case MakerComplete, TakerFailed, PhaseAbandoned, PhaseRecovered: // TakerComplete == MakerComplete
		return true
	}
	return false
}

// Dir of an output from our point of view.
type Dir string

const (
	DirIn  Dir = "in"  // we are the receiver (hashlock key, incoming coins)
	DirOut Dir = "out" // we are the sender (timelock key)
)

// Output status.
const (
	StatusLive      = "live"
	StatusAbandoned = "abandoned" // never funded (held funding tx dropped)
	StatusGiven     = "given"     // out: our key handed over; the coins are the receiver's
	StatusSettled   = "settled"   // in: swept cooperatively
	StatusClaimed   = "claimed"   // in: hashlock claim published
	StatusRefunded  = "refunded"  // out: timelock refund published
	StatusPeer      = "peer"      // resolved by the counterparty (their refund / their claim)
)

// KeyRef says how to derive one of our private keys without storing it:
// Kind "tweak" = tweakable point key + Nonce (a maker's receiver keys);
// "swap" = keys.SwapKey(Swap, Index) (fresh per-swap keys).
type KeyRef struct {
	Kind  string `json:"kind"`
	Nonce []byte `json:"nonce,omitempty"`
	Swap  uint32 `json:"swap,omitempty"`
	Index uint32 `json:"index,omitempty"`
}

// Priv derives the key. The caller zeroes it after use.
func (k KeyRef) Priv(kr *keys.Keyring) (*btcec.PrivateKey, error) {
	switch k.Kind {
	case "tweak":
		base, err := kr.TweakablePoint()
		if err != nil {
			return nil, err
		}
		defer base.Zero()
		n, _ := btcec.PrivKeyFromBytes(k.Nonce)
		return script.TweakPrivKey(base, n), nil
	case "swap":
		return kr.SwapKey(k.Swap, k.Index)
	}
	return nil, fmt.Errorf("key ref kind %q", k.Kind)
}

// Pub derives the public key.
func (k KeyRef) Pub(kr *keys.Keyring) (*btcec.PublicKey, error) {
	p, err := k.Priv(kr)
	if err != nil {
		return nil, err
	}
	defer p.Zero()
	return p.PubKey(), nil
}

// Per-swap key slots of a taker (keys.SwapKey(swapIndex, slot+k) for
// funding output k of a hop). A hop has at most protocol.MaxFundingTxs (8)
// outputs; each kind of key gets a block of 16 slots, so the blocks never
// overlap and a later raise of the cap to 16 keeps old records derivable.
const (
	// TakerOutMultisigSlot: our 2-of-2 key on hop 0 (we fund it).
	TakerOutMultisigSlot = 0
	// TakerOutTimelockSlot: our timelock (refund) key on hop 0.
	TakerOutTimelockSlot = 16
	// TakerInMultisigSlot: our 2-of-2 key on hop n (we receive it).
	TakerInMultisigSlot = 32
	// TakerInHashlockSlot: our hashlock (claim) key on hop n.
	TakerInHashlockSlot = 48
)

// A maker's outgoing funding output k uses slot MakerOutMultisigSlot(k)
// for its 2-of-2 key and MakerOutTimelockSlot(k) for its refund key (its
// incoming keys are tweaks of its tweakable point: TweakKeyRef).
func MakerOutMultisigSlot(k int) uint32 { return uint32(2 * k) }

// MakerOutTimelockSlot: see MakerOutMultisigSlot.
func MakerOutTimelockSlot(k int) uint32 { return uint32(2*k + 1) }

// SwapKeyRef is a fresh per-swap key reference.
func SwapKeyRef(swapIndex, index uint32) KeyRef {
	return KeyRef{Kind: "swap", Swap: swapIndex, Index: index}
}

// TweakKeyRef is a maker receiver key reference.
func TweakKeyRef(nonce *btcec.PrivateKey) KeyRef {
	b := nonce.Key.Bytes()
	return KeyRef{Kind: "tweak", Nonce: b[:]}
}

// Output is one funding output of a hop we are party to, with everything
// needed to settle or recover it alone.
type Output struct {
	Hop             int             `json:"hop"`
	Dir             Dir             `json:"dir"`
	Idx             int             `json:"idx"`
	FundingOutPoint wire.OutPoint   `json:"funding"`
	Value           int64           `json:"value"`
	MultisigScript  []byte          `json:"multisig"`
	ContractScript  []byte          `json:"contract"`
	ContractTx      []byte          `json:"contract_tx"` // unsigned
	MyKey           KeyRef          `json:"my_key"`      // our 2-of-2 key
	LockKey         KeyRef          `json:"lock_key"`    // our hashlock (in) or timelock (out) key
	PeerPub         []byte          `json:"peer_pub"`    // the counterparty's 2-of-2 key
	MySig           []byte          `json:"my_sig,omitempty"`
	PeerSig         []byte          `json:"peer_sig,omitempty"`
	PeerPriv        []byte          `json:"peer_priv,omitempty"`    // after handover (in)
	FundingTxid     *chainhash.Hash `json:"funding_txid,omitempty"` // our held funding tx (out)
	Status          string          `json:"status"`
	ResolveTxid     *chainhash.Hash `json:"resolve_txid,omitempty"` // sweep / claim / refund
}

// Contract parses the output's contract script.
func (o *Output) Contract() (*script.Contract, error) { return script.ParseContract(o.ContractScript) }

// UnsignedContractTx decodes the stored contract tx.
func (o *Output) UnsignedContractTx() (*wire.MsgTx, error) {
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(o.ContractTx)); err != nil {
		return nil, err
	}
	return tx, nil
}

// ContractTxid is the contract tx's txid (witness-independent).
func (o *Output) ContractTxid() chainhash.Hash {
	tx, err := o.UnsignedContractTx()
	if err != nil {
		return chainhash.Hash{}
	}
	return tx.TxHash()
}

// ContractOutPoint is the contract tx's output.
func (o *Output) ContractOutPoint() wire.OutPoint {
	return wire.OutPoint{Hash: o.ContractTxid(), Index: 0}
}

// SignedContractTx assembles the fully signed contract tx from both
// signatures (error when the peer's is missing).
func (o *Output) SignedContractTx(kr *keys.Keyring) (*wire.MsgTx, error) {
	if len(o.MySig) == 0 || len(o.PeerSig) == 0 {
		return nil, errors.New("contract tx not fully signed")
	}
	tx, err := o.UnsignedContractTx()
	if err != nil {
		return nil, err
	}
	myPub, err := o.MyKey.Pub(kr)
	if err != nil {
		return nil, err
	}
	peer, err := btcec.ParsePubKey(o.PeerPub)
	if err != nil {
		return nil, err
	}
	w, err := script.MultisigWitness(o.MultisigScript, myPub, WithSigHash(o.MySig), peer, WithSigHash(o.PeerSig))
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = w
	pk := script.WitnessScriptHash(o.MultisigScript)
	if err := script.Verify(tx, map[wire.OutPoint]*wire.TxOut{o.FundingOutPoint: wire.NewTxOut(o.Value, pk)}); err != nil {
		return nil, err
	}
	return tx, nil
}

// ContractValue is the contract output's value.
func (o *Output) ContractValue() int64 {
	tx, err := o.UnsignedContractTx()
	if err != nil || len(tx.TxOut) == 0 {
		return 0
	}
	return tx.TxOut[0].Value
}

// Resolved reports whether nothing more is to be done for the output.
func (o *Output) Resolved() bool { return o.Status != StatusLive }

// MakerSwap is a maker's persisted record of one swap.
// Times are when a record was first and last saved, as the store keeps
// them beside its state (filled by Load*, not part of the state).
type Times struct {
	Created time.Time `json:"-"`
	Updated time.Time `json:"-"`
}

type MakerSwap struct {
	Times
	ID        protocol.SwapID `json:"id"`
	Phase     Phase           `json:"phase"`
	TxCount   int             `json:"tx_count"`
	Hash      [20]byte        `json:"hash"`
	Preimage  *[32]byte       `json:"preimage,omitempty"`
	SwapIndex uint32          `json:"swap_index"`

	InLocktime      uint16 `json:"in_locktime"`
	OutLocktime     uint16 `json:"out_locktime"`
	FundingFeeRate  int64  `json:"funding_fee_rate"`
	ContractFeeRate int64  `json:"contract_fee_rate"`
	Fee             int64  `json:"fee"`
	Reimbursement   int64  `json:"reimbursement"`
	InTotal         int64  `json:"in_total"`
	OutTotal        int64  `json:"out_total"`

	In  []*Output `json:"in"`
	Out []*Output `json:"out"`

	// Reply is the SetupHopReply we sent (resent on a re-dial).
	Reply []byte `json:"reply,omitempty"`
	// Request is SHA256 of the encoded SetupHop that Reply answers: a
	// repeat is answered only when it is the same request.
	Request []byte `json:"request,omitempty"`
	// IncomingConfHeight is the height at which all incoming funding was
	// confirmed (checked at FundHop); the block deadline counts from it.
	IncomingConfHeight int32 `json:"incoming_conf_height,omitempty"`
	// ReservedAt is when the setup reserved our liquidity (unix seconds):
	// the hard deadline for the incoming funding to appear counts from it.
	ReservedAt int64 `json:"reserved_at,omitempty"`
	// Backing are the coins whose funding proofs backed the reservation
	// (the inputs of the incoming funding txs): each backs one
	// reservation waiting for its funding at a time, and one spent
	// elsewhere ends it.
	Backing []wire.OutPoint `json:"backing,omitempty"`
	Error   string          `json:"error,omitempty"`
	// ShareProof: the operator chose to hand this completed swap's trust
	// proof to takers that ask (node/maker trust.go).
	ShareProof bool `json:"share_proof,omitempty"`
}

// Outputs returns every output of the record.
func (s *MakerSwap) Outputs() []*Output { return append(append([]*Output(nil), s.In...), s.Out...) }

// MakerLeg is the taker's view of one maker of its route.
type MakerLeg struct {
	Addr             string           `json:"addr"`
	SwapID           protocol.SwapID  `json:"swap_id"`
	Terms            Terms            `json:"terms"`
	RequiredConfirms uint32           `json:"required_confirms"`
	TweakablePoint   []byte           `json:"tweakable_point"`
	Fee              int64            `json:"fee"`
	Reimbursement    int64            `json:"reimbursement"`
	InTotal          int64            `json:"in_total"`
	OutTotal         int64            `json:"out_total"`
	FundingTxids     []chainhash.Hash `json:"funding_txids,omitempty"`
}

// HopOutput is the taker's record of one output of any hop (the ones it
// is not party to are kept to relay signatures and keys).
type HopOutput struct {
	FundingOutPoint wire.OutPoint `json:"funding"`
	Value           int64         `json:"value"`
	MultisigScript  []byte        `json:"multisig"`
	ContractScript  []byte        `json:"contract"`
	ContractTx      []byte        `json:"contract_tx"`
	SenderPub       []byte        `json:"sender_pub"`   // sender's 2-of-2 key
	ReceiverPub     []byte        `json:"receiver_pub"` // receiver's 2-of-2 key
	TimelockPub     []byte        `json:"timelock_pub"`
	HashlockPub     []byte        `json:"hashlock_pub"`
	MultisigNonce   []byte        `json:"multisig_nonce,omitempty"` // for a maker receiver
	HashlockNonce   []byte        `json:"hashlock_nonce,omitempty"`
	SenderSig       []byte        `json:"sender_sig,omitempty"`
	ReceiverSig     []byte        `json:"receiver_sig,omitempty"`
	SenderPriv      []byte        `json:"sender_priv,omitempty"` // handed over at settlement
}

// TakerSwap is the taker's persisted record of one swap.
type TakerSwap struct {
	Times
	ID              protocol.SwapID `json:"id"` // local id
	Phase           Phase           `json:"phase"`
	Amount          int64           `json:"amount"`
	TxCount         int             `json:"tx_count"`
	Preimage        [32]byte        `json:"preimage"`
	Hash            [20]byte        `json:"hash"`
	SwapIndex       uint32          `json:"swap_index"`
	FundingFeeRate  int64           `json:"funding_fee_rate"`
	ContractFeeRate int64           `json:"contract_fee_rate"`
	Locktimes       []uint16        `json:"locktimes"`
	Makers          []MakerLeg      `json:"makers"`
	Hops            [][]HopOutput   `json:"hops"`           // 0..n
	FundedHops      int             `json:"funded_hops"`    // hops broadcast so far (hop 0 = taker)
	SettledMakers   int             `json:"settled_makers"` // makers that received our keys
	// Own outputs: hop 0 (out) and hop n (in), for recovery.
	Out []*Output `json:"out"`
	In  []*Output `json:"in"`
	// FundingFees: fee of each of our hop-0 funding txs.
	FundingFees []int64 `json:"funding_fees"`
	SweepFees   []int64 `json:"sweep_fees,omitempty"`
	Error       string  `json:"error,omitempty"`
	Attempt     int     `json:"attempt"`
}

// Outputs returns our own outputs.
func (s *TakerSwap) Outputs() []*Output { return append(append([]*Output(nil), s.Out...), s.In...) }

// OutputsView describes swap outputs for the control API and logs: no
// keys, signatures or scripts.
func OutputsView(outs []*Output) []map[string]any {
	out := make([]map[string]any, 0, len(outs))
	for _, o := range outs {
		m := map[string]any{"hop": o.Hop, "dir": o.Dir, "funding": o.FundingOutPoint.String(), "value": o.Value, "status": o.Status}
		if o.ResolveTxid != nil {
			m["resolve_txid"] = o.ResolveTxid.String()
		}
		out = append(out, m)
	}
	return out
}
