package coinjoin

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/script"
)

// A round, as one participant runs it (issue 14, item 3). Every
// participant holds one stream to every other one (over their ephemeral
// onions: the initiator's invite streams, and the lower position dials
// the higher for the other pairs) and sends every message to everyone,
// so every participant sees the same signed record and can replay it.
//
//  1. Inputs: each sends its coin (CJInput); each looks every coin up on
//     its own chain backend. Inputs come first so that a coin in prison
//     or not worth the round is refused before anyone's output moves. The
//     initiator relays the inputs it keeps ahead of its confirmation
//     (relayInputs).
//  2. Outputs: the shuffle (shuffle.go), position 0 first; each pass goes
//     to everyone. A participant that cannot open an entry, or misses its
//     output in the last pass, reveals its round encryption key
//     (CJBlame); all reveal theirs and Blame replays the passes.
//  3. Signatures: each builds the transaction from the agreed inputs and
//     outputs (Build), checks it pays it (CheckMine), records it, and only
//     then signs its input (SIGHASH_ALL) and sends the witness (CJTxSig).
//     Whoever holds every witness verifies them and broadcasts.
//
// A participant that does not send what its phase needs within
// PhaseTimeout, sends a bad input, spoils the shuffle or a signature is
// blamed: the round ends for everyone, and the service starts a new one
// without it (its keys, onion and input avoided, service.go).

// Timing of a round, with its derivation.
const (
	// PhaseTimeout: how long a participant waits for the messages of one
	// phase (everyone's inputs, one shuffle step, everyone's signatures).
	// A message on an open Tor stream takes ~0.1 s on the private network
	// and ~1 s on the public one (node/chat's figures); a step is up to
	// 100 peels and 99 sends on a Raspberry Pi. 60 s is ten times the
	// slowest honest case and bounds what a silent peer can delay.
	PhaseTimeout = 60 * time.Second
	// LinkTimeout: for every stream of the round to be up. A first stream
	// to a fresh onion builds a new rendezvous circuit: 2–10 s on the
	// public network, seconds more on a loaded Pi.
	LinkTimeout = 60 * time.Second

	// maxMsgsPerPeer: what one peer may send in a round (accept, input,
	// pass, ready, blame, signature, abort, and a spare); more is a flood and
	// cuts its stream. The initiator may send n more: the inputs it relays.
	maxMsgsPerPeer = 8
)

// roundDuration is the longest a round of n can take: linking, inputs
// and their confirmation, n shuffle steps, the outputs' confirmation, the
// blame replay and the signatures. Our coin stays held one more phase
// past it, for the broadcast of a transaction completed at the deadline.
func roundDuration(n int, phase, link time.Duration) time.Duration {
	return link + time.Duration(n+5)*phase
}

// Ban bounds for spoilt rounds' inputs, Wasabi's prison: a ban that
// shrinks as the input grows, since tying up a large coin costs its owner
// more (the opportunity cost is the deterrent): BanValueHours / value.
const (
	// BanValueHours: 0.1 BTC·h, so a 0.01 BTC input sits 10 h and a 1 BTC
	// input 6 min.
	BanValueHours = 10_000_000 // sat·h
	// MinBan, MaxBan: at least long enough to keep the coin out of the
	// next few rounds, at most a week (a wallet may have been offline).
	MinBan = 30 * time.Minute
	MaxBan = 7 * 24 * time.Hour
)

// BanFor is how long an input of value sat is refused after it spoilt a
// round.
func BanFor(value int64) time.Duration {
	if value <= 0 {
		return MaxBan
	}
	d := time.Duration(float64(BanValueHours) / float64(value) * float64(time.Hour))
	return min(max(d, MinBan), MaxBan)
}

// Chain is what a round reads of the chain (chain.Backend).
type Chain interface {
	UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error)
}

// Wallet is what a round needs of the node's wallet (*wallet.Wallet).
type Wallet interface {
	SignWalletInputs(ctx context.Context, msg *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) (int, error)
	PublishTx(ctx context.Context, tx *wire.MsgTx, fee btcutil.Amount, label string) error
}

// Faults a test can inject (Config.Fault), each the misbehaviour of one
// disruptor the issue names. A faulty node spoils one round (takes part
// in others honestly until it gets its chance) and then stops mixing.
const (
	FaultNone = ""
	// FaultNoSign: take part but never send our signature.
	FaultNoSign = "no-sign"
	// FaultAlterOutput: lead a round as soon as enough are announced
	// (ignoring the election), take no one else's invite, put ourselves
	// last, and replace another participant's output with one of ours.
	FaultAlterOutput = "alter-output"
	// FaultCrashAfterInput: die (SIGKILL) right after sending our input.
	FaultCrashAfterInput = "crash-after-input"
	// faultInputToInitiator (unit tests): send our input to the initiator
	// only, as if it were lost on the way to the others (a peer that died
	// with it still in tor's buffers); otherwise take part honestly.
	faultInputToInitiator = "input-to-initiator-only"
)

// Errors of a round.
var (
	ErrRoundFailed = errors.New("coinjoin: round failed")
)

// roundConfig is one participant's view of a round when it starts.
type roundConfig struct {
	invite *protocol.CJInvite
	me     int // our position
	init   int // the initiator's position
	sign   *btcec.PrivateKey
	enc    [32]byte // our round encryption key (private)
	input  Input
	output []byte

	chain      Chain
	wallet     Wallet
	store      *store
	imprisoned func(context.Context, wire.OutPoint) bool
	// extraOutput: FaultAlterOutput's second output script.
	extraOutput []byte
	// confirmed is called once the inputs are agreed (the service takes
	// our announcement off the board then: until that moment every
	// invitee can check the invite's peers against it).
	confirmed func()
	fault     string
	crash     func()
	phase     time.Duration
	link      time.Duration
	minConf   int32
	log       *slog.Logger
}

type inMsg struct {
	key [32]byte // the sender's round key
	msg protocol.Message
}

// Stages of a round, for what a peer that leaves or goes silent is
// charged with (Outcome.Prison).
const (
	stageInputs  = iota // links, inputs, the initiator's confirmation
	stageShuffle        // outputs: from here a leaver costs everyone a restart with fresh keys
	stageSign
)

// round is one participant's run of one round.
type round struct {
	cfg    roundConfig
	id     [32]byte
	hold   [32]byte // the first invite's id: our coin's holder
	n      int
	peers  []ShufflePeer
	pos    map[[32]byte]int // round key → position
	params Params
	stage  int

	inbox chan inMsg
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	conns   []*protocol.Conn
	linked  chan struct{} // signalled when a stream is attached
	closed  bool
	dropped Traffic            // of the streams the confirmation closed
	sticky  []protocol.Message // sent to every stream, those linking later too

	// state from the peers' messages, touched by run only
	inputs    []*protocol.CJInput
	passes    []*protocol.CJPass
	reveals   []*protocol.CJBlame
	readies   []*protocol.CJReady
	sigs      []*protocol.CJTxSig
	aborts    []string
	bad       []string          // a peer's message that failed its checks
	gone      map[[32]byte]bool // peers whose stream ended
	dialing   atomic.Int32      // the initiator's invite dials under way
	faulted   bool              // the injected fault was carried out
	confirm   *protocol.CJInvite
	confirmed bool    // rekey ran: the round is the confirmed one
	later     []inMsg // messages of the confirmed round that came before it
}

// Outcome is how a round ended for us.
type Outcome struct {
	// Tx: the complete transaction, broadcast (nil when the round failed).
	Tx *wire.MsgTx
	// Peers: the round's participants (after the initiator's
	// confirmation, when it came).
	Peers []protocol.CJPeer
	// Blamed: positions of the peers that spoilt it, with why; Prison:
	// those that are avoided and whose input goes to prison (a bad input
	// or message, or a fault after the inputs were agreed: silence or
	// leaving before costs nobody more than a new confirmation).
	Blamed map[int]string
	Prison map[int]bool
	// Inputs: the peers' inputs as they sent them (nil where none came).
	Inputs []*protocol.CJInput
	Err    error
	// Traffic: what this participant sent and received in the round.
	Traffic Traffic
	// Faulted: the injected fault (Config.Fault) was carried out.
	Faulted bool
}

func newRound(cfg roundConfig) *round {
	n := len(cfg.invite.Peers)
	r := &round{cfg: cfg, hold: cfg.invite.Round, inbox: make(chan inMsg, (maxMsgsPerPeer+1)*n), done: make(chan struct{}), gone: map[[32]byte]bool{},
		conns: make([]*protocol.Conn, n), linked: make(chan struct{}, 1)}
	r.params = Params{Denomination: cfg.invite.Denomination, FeeRate: int64(cfg.invite.FeeRate)}
	r.setPeers(cfg.invite)
	return r
}

// setPeers (re)sets the round's participants and its per-peer state.
func (r *round) setPeers(inv *protocol.CJInvite) {
	n := len(inv.Peers)
	r.id, r.n = inv.Round, n
	r.peers, r.pos = make([]ShufflePeer, n), make(map[[32]byte]int, n)
	for i, p := range inv.Peers {
		r.peers[i] = ShufflePeer{Sign: p.SignKey, Enc: p.EncKey}
		r.pos[p.SignKey] = i
	}
	r.inputs, r.passes = make([]*protocol.CJInput, n), make([]*protocol.CJPass, n)
	r.reveals, r.readies = make([]*protocol.CJBlame, n), make([]*protocol.CJReady, n)
	r.sigs, r.aborts, r.bad = make([]*protocol.CJTxSig, n), make([]string, n), make([]string, n)
}

// identify returns the position whose round key signed m (−1: none).
func (r *round) identify(m interface{ Verify([32]byte) error }) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range r.peers {
		if i != r.cfg.me && m.Verify(p.Sign) == nil {
			return i
		}
	}
	return -1
}

// attach makes c the stream with peer i and reads it until it ends; first,
// if not nil, is the message that identified it. It reports false (and
// does not take c) when i already has a stream or the round is over.
func (r *round) attach(i int, c *protocol.Conn, first protocol.Message) bool {
	r.mu.Lock()
	if r.closed || i < 0 || i >= len(r.conns) || r.conns[i] != nil {
		r.mu.Unlock()
		return false
	}
	r.conns[i] = c
	key := r.peers[i].Sign
	sticky := slices.Clone(r.sticky)
	r.wg.Add(2)
	r.mu.Unlock()
	select {
	case r.linked <- struct{}{}:
	default:
	}
	go r.read(key, c, first)
	go func() { // what everyone got before this stream linked
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.phase)
		defer cancel()
		for _, m := range sticky {
			if err := c.Send(ctx, m); err != nil {
				return
			}
		}
	}()
	return true
}

func (r *round) read(key [32]byte, c *protocol.Conn, first protocol.Message) {
	defer r.wg.Done()
	sent, limit := 0, maxMsgsPerPeer
	r.mu.Lock()
	if key == r.peers[r.cfg.init].Sign {
		limit += r.n // the inputs it relays (relayInputs)
	}
	r.mu.Unlock()
	deliver := func(m protocol.Message) bool {
		if sent++; sent > limit {
			_ = c.CloseWithError(protocol.CodeRateLimited, "coinjoin: too many messages in one round")
			return false
		}
		select {
		case r.inbox <- inMsg{key: key, msg: m}:
			return true
		case <-r.done:
			return false
		}
	}
	if first != nil && !deliver(first) {
		return
	}
	for {
		m, err := c.Receive(context.Background())
		if err != nil {
			// The stream ended: nothing more will come from this peer
			// (a nil message tells run so, after everything it sent).
			select {
			case r.inbox <- inMsg{key: key}:
			case <-r.done:
			}
			return
		}
		if !deliver(m) {
			return
		}
	}
}

// size is the number of participants (it shrinks at the confirmation).
func (r *round) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// linkedAll reports whether every other participant has a stream.
func (r *round) linkedAll() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range r.conns {
		if i != r.cfg.me && c == nil {
			return false
		}
	}
	return true
}

func (r *round) hasConn(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[i] != nil
}

// close ends every stream and waits for their readers.
func (r *round) close() Traffic {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.done)
	}
	conns := slices.Clone(r.conns)
	t := r.dropped
	r.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
			t.add(c.Stats())
		}
	}
	r.wg.Wait()
	return t
}

func (t *Traffic) add(s protocol.Stats) {
	t.MsgsSent += int(s.MsgsSent)
	t.MsgsRecv += int(s.MsgsReceived)
	t.BytesSent += int64(s.BytesSent)
	t.BytesRecv += int64(s.BytesReceived)
}

type signable interface {
	protocol.Message
	Sign(*btcec.PrivateKey) error
}

// broadcastSticky is broadcast to every stream, and to each stream that
// links later as it links.
func (r *round) broadcastSticky(ctx context.Context, m signable) {
	if err := m.Sign(r.cfg.sign); err != nil {
		r.cfg.log.Warn("coinjoin: signing a round message failed", "err", err)
		return
	}
	r.mu.Lock()
	r.sticky = append(r.sticky, m)
	conns := slices.Clone(r.conns)
	r.mu.Unlock()
	r.send(ctx, m, conns, nil)
}

// broadcast signs m with our round key and sends it to every other
// participant at once (to, if given, to those positions only); a peer
// whose stream fails will be blamed by the phase that waits for it.
func (r *round) broadcast(ctx context.Context, m signable, to ...int) {
	if err := m.Sign(r.cfg.sign); err != nil {
		r.cfg.log.Warn("coinjoin: signing a round message failed", "err", err)
		return
	}
	r.mu.Lock()
	conns := slices.Clone(r.conns)
	r.mu.Unlock()
	r.send(ctx, m, conns, to)
}

// send sends m on conns (those of positions to, if given) at once.
func (r *round) send(ctx context.Context, m protocol.Message, conns []*protocol.Conn, to []int) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.phase)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil || i == r.cfg.me || (len(to) > 0 && !slices.Contains(to, i)) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Send(ctx, m); err != nil {
				r.cfg.log.Debug("coinjoin: send failed", "to", i, "type", m.Type(), "err", err)
			}
		}()
	}
	wg.Wait()
}

// take records one peer message in the round's state: only the first of
// each kind counts, and only if its sender's round key signed it for
// this round; anything else marks the peer bad. A message for another
// round may be for the one the initiator is confirming: it waits.
func (r *round) take(m inMsg) {
	if m.msg == nil {
		r.gone[m.key] = true
		return
	}
	from, ok := r.pos[m.key]
	if !ok {
		return // a peer the confirmation left out
	}
	switch m.msg.(type) {
	case *protocol.CJPass, *protocol.CJReady, *protocol.CJBlame, *protocol.CJTxSig:
		if !r.confirmed {
			// Of the confirmed round (maybe under the same id), from a
			// peer that took the confirmation before us: it waits for
			// ours, as the round's state is reset then.
			if len(r.later) < maxMsgsPerPeer*r.n {
				r.later = append(r.later, m)
			}
			return
		}
	}
	check := func(round [32]byte, v interface{ Verify([32]byte) error }) bool {
		if round != r.id {
			r.bad[from] = "a message for another round"
			return false
		}
		if err := v.Verify(m.key); err != nil {
			r.bad[from] = "a message not signed by its round key"
			return false
		}
		return true
	}
	switch v := m.msg.(type) {
	case *protocol.CJAccept:
		// A stream's first message (identify checked it), under the
		// first invite's id: nothing to record.
	case *protocol.CJInvite:
		// The first invite came on the initiator's stream before the round
		// began (serve took it); one here is the initiator's confirmation
		// (the same id when it kept everyone).
		if from == r.cfg.init && r.confirm == nil && v.Verify(m.key) == nil {
			r.confirm = v
		}
	case *protocol.CJInput:
		if from == r.cfg.init && r.cfg.me != r.cfg.init && v.Verify(m.key) != nil {
			// Relayed by the initiator (relayInputs) as its owner
			// signed it.
			owner := r.inputOwner(v)
			if owner < 0 {
				r.bad[from] = "relayed an input no participant signed"
			} else if v.Round != r.id {
				r.bad[from] = "relayed an input for another round"
			} else {
				r.takeInput(owner, v)
			}
			return
		}
		if check(v.Round, v) {
			r.takeInput(from, v)
		}
	case *protocol.CJPass:
		// Every pass is broadcast by the participant at its step.
		if int(v.Step) != from {
			r.bad[from] = "a pass for another position"
		} else if r.passes[from] == nil && check(v.Round, v) {
			r.passes[from] = v
		}
	case *protocol.CJBlame:
		if r.reveals[from] == nil && check(v.Round, v) {
			r.reveals[from] = v
		}
	case *protocol.CJReady:
		if r.readies[from] == nil && check(v.Round, v) {
			r.readies[from] = v
		}
	case *protocol.CJTxSig:
		if r.sigs[from] == nil && check(v.Round, v) {
			r.sigs[from] = v
		}
	case *protocol.CJAbort:
		if r.aborts[from] == "" && (v.Round == r.id || v.Round == r.hold) && v.Verify(m.key) == nil {
			r.aborts[from] = "left the round: " + cleanReason(v.Reason)
		}
	default:
		r.bad[from] = fmt.Sprintf("an unexpected %s", m.msg.Type())
	}
}

// takeInput records owner's input, the first that came (directly or
// relayed); another, different one signed by the same key means the owner
// told participants different things, and is its fault alone.
func (r *round) takeInput(owner int, v *protocol.CJInput) {
	prev := r.inputs[owner]
	switch {
	case prev == nil:
		r.inputs[owner] = v
	case prev.OutPoint != v.OutPoint || prev.Value != v.Value || !bytes.Equal(prev.PkScript, v.PkScript):
		r.bad[owner] = "signed two different inputs"
	}
}

// inputOwner is the position of the participant whose round key signed
// v (a relayed input), -1 if none did: neither we nor the initiator,
// whose own inputs come signed by the stream's key.
func (r *round) inputOwner(v *protocol.CJInput) int {
	for i, p := range r.peers {
		if i != r.cfg.me && i != r.cfg.init && v.Verify(p.Sign) == nil {
			return i
		}
	}
	return -1
}

// relayInputs sends every participant the inputs of the others it keeps
// (each as its owner signed it), ahead of the confirmation on the same
// stream. An input lost on the way from its owner (a peer that died with
// it still in tor's buffers) then reaches everyone, who would otherwise
// refuse the confirmation and be blamed for leaving; and everyone builds
// the transaction from the same inputs. Costs n-2 small messages per
// participant.
func (r *round) relayInputs(ctx context.Context, keep []int) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.phase)
	defer cancel()
	r.mu.Lock()
	conns := slices.Clone(r.conns)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, k := range keep {
		c := conns[k]
		if k == r.cfg.me || c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range keep {
				if j == k || j == r.cfg.me || r.inputs[j] == nil {
					continue
				}
				if err := c.Send(ctx, r.inputs[j]); err != nil {
					r.cfg.log.Debug("coinjoin: relaying an input failed", "to", k, "err", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func cleanReason(s string) string {
	s = string(bytes.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, []byte(s)))
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// wait takes messages until cond holds (true), d passes without it
// (false), or a peer sent a bad message (false; before the inputs are
// confirmed only the initiator's bad message or leaving counts: the
// confirmation drops whoever else misbehaves). A peer that leaves is not
// blamed for it: an honest one leaves when it gave up on someone else,
// maybe a moment before we do; what a leaver did not send is what it is
// blamed for.
func (r *round) wait(ctx context.Context, d time.Duration, cond func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for !cond() {
		if r.stage > stageInputs && r.spoilt() != nil {
			return false
		}
		if r.stage == stageInputs && (r.bad[r.cfg.init] != "" || r.aborts[r.cfg.init] != "" || r.gone[r.peers[r.cfg.init].Sign]) {
			return false
		}
		select {
		case m := <-r.inbox:
			r.take(m)
		case <-r.linked:
		case <-t.C:
			return cond()
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// spoilt: the peers that sent a bad message so far.
func (r *round) spoilt() map[int]string {
	var out map[int]string
	for i, why := range r.bad {
		if why != "" {
			if out == nil {
				out = map[int]string{}
			}
			out[i] = why
		}
	}
	return out
}

// missing blames every other participant for which have is false.
func (r *round) missing(have func(i int) bool, why string) map[int]string {
	out := r.spoilt()
	if out == nil {
		out = map[int]string{}
	}
	for i := range r.n {
		if i != r.cfg.me && !have(i) {
			if _, ok := out[i]; !ok {
				out[i] = why
			}
		}
	}
	return out
}

// run plays the round to its end. The streams the invite gave are
// attached already; dial, if set, starts opening ours to a peer we must
// reach (in the background, until ctx ends).
func (r *round) run(ctx context.Context, dial func(ctx context.Context, i int)) (out Outcome) {
	ctx, cancel := context.WithDeadline(ctx, time.Unix(int64(r.cfg.invite.Deadline), 0))
	defer cancel()
	defer func() {
		out.Traffic = r.close()
		out.Faulted = r.faulted
		out.Inputs = r.inputs
		out.Peers = r.cfg.invite.Peers
		if len(out.Blamed) > 0 {
			out.Prison = map[int]bool{}
			for i, why := range out.Blamed {
				out.Prison[i] = r.stage > stageInputs || strings.HasPrefix(why, badInput) || r.bad[i] != ""
			}
		}
	}()
	fail := func(blamed map[int]string, why string) Outcome {
		delete(blamed, r.cfg.me)
		if len(blamed) > 0 {
			r.broadcast(context.WithoutCancel(ctx), &protocol.CJAbort{Round: r.id, Reason: why})
		}
		return Outcome{Blamed: blamed, Err: fmt.Errorf("%w: %s", ErrRoundFailed, why)}
	}

	// Link and inputs. Our input goes to every stream, those that link
	// later too; a peer that never links sends us no input, and the
	// initiator's confirmation drops it.
	mine := &protocol.CJInput{Round: r.id, OutPoint: r.cfg.input.OutPoint, Value: r.cfg.input.Value, PkScript: r.cfg.input.PkScript}
	r.inputs[r.cfg.me] = mine
	if r.cfg.fault == faultInputToInitiator && r.cfg.me != r.cfg.init {
		r.wait(ctx, r.cfg.link, func() bool { return r.hasConn(r.cfg.init) })
		r.broadcast(ctx, mine, r.cfg.init)
	} else {
		r.broadcastSticky(ctx, mine)
	}
	if dial != nil {
		for i := range r.n {
			if i != r.cfg.me && i != r.cfg.init && r.cfg.me != r.cfg.init && r.cfg.me < i {
				dial(ctx, i)
			}
		}
	}
	if r.cfg.fault == FaultCrashAfterInput && r.cfg.crash != nil {
		r.wait(ctx, r.cfg.link, r.linkedAll)
		r.cfg.crash()
	}
	waiting := func(i int) bool { // for peer i's input, and its stream (a relayed input comes without)
		return (r.inputs[i] == nil || !r.hasConn(i)) && r.bad[i] == "" && r.aborts[i] == "" && !r.gone[r.peers[i].Sign]
	}
	if r.cfg.me == r.cfg.init {
		// It links by its invites: once every dial ended it knows whom it
		// reaches, and waits for their inputs.
		r.wait(ctx, r.cfg.link, func() bool { return r.linkedAll() || r.dialing.Load() == 0 })
		r.wait(ctx, r.cfg.phase, func() bool {
			for i := range r.n {
				if i != r.cfg.me && r.hasConn(i) && waiting(i) {
					return false
				}
			}
			return true
		})
	} else {
		// The others wait for every input; once the initiator confirmed,
		// for the inputs of those it kept.
		r.wait(ctx, r.cfg.link+r.cfg.phase, func() bool {
			for i := range r.n {
				kept := r.confirm == nil || slices.ContainsFunc(r.confirm.Peers, func(p protocol.CJPeer) bool { return p.SignKey == r.peers[i].Sign })
				if i != r.cfg.me && kept && waiting(i) {
					return false
				}
			}
			return true
		})
	}
	refused := r.checkInputs(ctx)
	for i := range r.n {
		if why := cmp.Or(r.bad[i], r.aborts[i]); why != "" && i != r.cfg.me {
			refused[i] = why
		}
	}
	if err := r.confirmInputs(ctx, refused); err != nil {
		if errors.Is(err, errBlame) {
			return fail(r.blamedBy(err), err.Error())
		}
		return fail(nil, err.Error())
	}
	if r.cfg.confirmed != nil {
		r.cfg.confirmed()
	}
	ins := make([]Input, r.n)
	for i, m := range r.inputs {
		ins[i] = Input{OutPoint: m.OutPoint, Value: m.Value, PkScript: m.PkScript}
	}
	if err := r.cfg.store.update(ctx, r.hold, StateShuffling, nil, "", Traffic{}, false); err != nil {
		return Outcome{Err: err}
	}

	// 2. Outputs.
	r.stage = stageShuffle
	outs, blamed, err := r.shuffle(ctx)
	if err != nil {
		return Outcome{Err: err}
	}
	if len(blamed) > 0 {
		return fail(blamed, "the shuffle was spoilt")
	}

	// 3. Signatures.
	r.stage = stageSign
	return r.signAll(ctx, ins, outs, fail)
}

// badInput starts the blame of a peer whose input we refused.
const badInput = "bad input: "

// errBlame carries the positions a step blames.
type blameErr struct{ blamed map[int]string }

var errBlame = errors.New("participants blamed")

func (e *blameErr) Error() string   { return "participants blamed" }
func (e *blameErr) Is(t error) bool { return t == errBlame }

func (r *round) blamedBy(err error) map[int]string {
	var be *blameErr
	if errors.As(err, &be) {
		return be.blamed
	}
	return nil
}

// confirmInputs: the initiator names the participants whose inputs it
// accepts (a new invite of those, which every one of them takes on the
// streams it has); the others take it unless it keeps an input they
// refused, or leaves them out. Nothing secret has been shown yet, so
// dropping a peer here costs no one a new announcement.
func (r *round) confirmInputs(ctx context.Context, refused map[int]string) error {
	T := int(r.cfg.invite.T)
	if r.cfg.me == r.cfg.init {
		keep := make([]int, 0, r.n)
		var next protocol.CJInvite
		next = *r.cfg.invite
		next.Peers = nil
		for i, p := range r.cfg.invite.Peers {
			if _, bad := refused[i]; !bad && r.inputs[i] != nil {
				keep = append(keep, i)
				next.Peers = append(next.Peers, p)
			}
		}
		if len(keep) < T {
			return &blameErr{blamed: refused}
		}
		next.Round = next.RoundID()
		r.relayInputs(ctx, keep)
		r.broadcast(ctx, &next, keep...)
		var out []int
		for i := range r.n {
			if !slices.Contains(keep, i) {
				out = append(out, i)
			}
		}
		if len(out) > 0 {
			r.broadcast(ctx, &protocol.CJAbort{Round: r.id, Reason: "your input was not taken"}, out...)
		}
		return r.rekey(&next)
	}
	if !r.wait(ctx, r.cfg.phase, func() bool { return r.confirm != nil }) {
		switch {
		case r.bad[r.cfg.init] != "":
			return &blameErr{blamed: map[int]string{r.cfg.init: r.bad[r.cfg.init]}}
		case r.aborts[r.cfg.init] != "":
			return &blameErr{blamed: map[int]string{r.cfg.init: r.aborts[r.cfg.init]}}
		}
		return &blameErr{blamed: map[int]string{r.cfg.init: "did not confirm the inputs"}}
	}
	next := r.confirm
	if err := r.checkConfirm(next, refused); err != nil {
		return err
	}
	return r.rekey(next)
}

// checkConfirm: the initiator's confirmation must keep our terms and
// deadline, keep us, drop every input we refused, add no one, and leave
// at least T.
func (r *round) checkConfirm(next *protocol.CJInvite, refused map[int]string) error {
	cur := r.cfg.invite
	switch {
	case next.Denomination != cur.Denomination || next.FeeRate != cur.FeeRate || next.T != cur.T || next.Deadline != cur.Deadline:
		return &blameErr{blamed: map[int]string{r.cfg.init: "changed the round's terms"}}
	case len(next.Peers) < int(cur.T):
		return errors.New("too few inputs were taken")
	}
	me := false
	for _, p := range next.Peers {
		i, ok := r.pos[p.SignKey]
		if !ok || cur.Peers[i] != p {
			return &blameErr{blamed: map[int]string{r.cfg.init: "confirmed a participant that was not invited"}}
		}
		if _, bad := refused[i]; bad {
			return fmt.Errorf("the initiator kept an input we refused (%s)", refused[i])
		}
		me = me || i == r.cfg.me
	}
	if !me {
		return errors.New("our input was not taken")
	}
	return nil
}

// rekey moves the round to the confirmed invite: new id, the kept peers in
// their new positions, the others' streams closed.
func (r *round) rekey(next *protocol.CJInvite) error {
	oldPos := r.pos
	oldInputs := r.inputs
	r.mu.Lock()
	oldConns := r.conns
	r.conns = make([]*protocol.Conn, len(next.Peers))
	kept := map[*protocol.Conn]bool{}
	for j, p := range next.Peers {
		if c := oldConns[oldPos[p.SignKey]]; c != nil {
			r.conns[j] = c
			kept[c] = true
		}
	}
	r.mu.Unlock()
	for _, c := range oldConns {
		if c != nil && !kept[c] {
			_ = c.Close()
			r.mu.Lock()
			r.dropped.add(c.Stats())
			r.mu.Unlock()
		}
	}
	me, init := r.peers[r.cfg.me].Sign, r.peers[r.cfg.init].Sign
	r.mu.Lock()
	r.cfg.invite = next
	r.setPeers(next)
	r.cfg.me, r.cfg.init = r.pos[me], r.pos[init]
	r.mu.Unlock()
	for j, p := range next.Peers {
		// Every input was signed for the first invite's id: re-stamp it
		// with ours (it is only read locally from here on).
		if in := oldInputs[oldPos[p.SignKey]]; in != nil {
			c := *in
			c.Round = next.Round
			r.inputs[j] = &c
		}
	}
	r.confirmed = true
	later := r.later
	r.later = nil
	for _, m := range later {
		r.take(m)
	}
	return nil
}

// checkInputs checks every peer's coin on our chain backend and returns
// those we refuse (and those that sent none), with why.
func (r *round) checkInputs(ctx context.Context) map[int]string {
	refused := map[int]string{}
	seen := map[wire.OutPoint]bool{r.cfg.input.OutPoint: true}
	for i, m := range r.inputs {
		if i == r.cfg.me {
			continue
		}
		if m == nil {
			refused[i] = "sent no input"
			continue
		}
		if !r.hasConn(i) {
			// Relayed by the initiator from a peer we have no stream
			// to: we would miss its pass and blame it for a silence only
			// we see. Refused, as before the relay: no link, no input.
			refused[i] = "sent no input"
			continue
		}
		in := Input{OutPoint: m.OutPoint, Value: m.Value, PkScript: m.PkScript}
		why := ""
		if seen[in.OutPoint] {
			why = "an input already in the round"
		} else if err := r.params.CheckInput(in, r.n); err != nil {
			why = err.Error()
		} else if r.cfg.imprisoned != nil && r.cfg.imprisoned(ctx, in.OutPoint) {
			why = "an input in prison"
		} else {
			out, conf, err := r.cfg.chain.UTXO(ctx, in.OutPoint)
			switch {
			case errors.Is(err, chain.ErrNotFound):
				why = "an input that is spent or does not exist"
			case err != nil:
				refused[i] = "an input our chain backend could not look up" // not its fault
			case out.Value != in.Value || !bytes.Equal(out.PkScript, in.PkScript):
				why = "an input whose value or script is not the chain's"
			case conf < r.cfg.minConf:
				why = "an unconfirmed input"
			}
		}
		seen[in.OutPoint] = true
		if why != "" {
			refused[i] = badInput + why
		}
	}
	return refused
}

// shuffle runs the output pass and returns the outputs, or who spoilt it.
func (r *round) shuffle(ctx context.Context) ([][]byte, map[int]string, error) {
	me := r.cfg.me
	wrapped, err := Wrap(r.id, r.peers, me, r.cfg.output)
	if err != nil {
		return nil, nil, err
	}
	blaming := func() bool { return slices.ContainsFunc(r.reveals, func(b *protocol.CJBlame) bool { return b != nil }) }
	for step := range r.n {
		if step == me {
			var in [][]byte
			if me > 0 {
				in = r.passes[me-1].Entries
			}
			entries, err := Step(r.id, r.peers, me, r.cfg.enc, in, wrapped)
			if err != nil {
				return r.blame(ctx, protocol.CJBlameUnopenable)
			}
			if r.cfg.fault == FaultAlterOutput && me == r.n-1 && len(r.cfg.extraOutput) == OutputLen {
				for i, e := range entries {
					if !bytes.Equal(e, r.cfg.output) {
						entries[i] = r.cfg.extraOutput
						r.faulted = true
						break
					}
				}
			}
			p := &protocol.CJPass{Round: r.id, Step: uint16(me), Entries: entries}
			r.broadcast(ctx, p)
			r.passes[me] = p
			continue
		}
		if !r.wait(ctx, r.cfg.phase, func() bool { return r.passes[step] != nil || blaming() }) {
			if s := r.spoilt(); s != nil {
				return nil, s, nil
			}
			return nil, map[int]string{step: "did not send its shuffle step"}, nil
		}
		if blaming() {
			return r.blame(ctx, protocol.CJBlameAnswer)
		}
	}
	outs, err := Outputs(r.passes[r.n-1].Entries, r.n)
	if err != nil || !slices.ContainsFunc(outs, func(o []byte) bool { return bytes.Equal(o, r.cfg.output) }) {
		return r.blame(ctx, protocol.CJBlameMissingOutput)
	}
	// Nobody signs before everyone found its output in the same list.
	ready := &protocol.CJReady{Round: r.id, Outputs: protocol.OutputsHash(outs)}
	r.broadcast(ctx, ready)
	r.readies[me] = ready
	if !r.wait(ctx, r.cfg.phase, func() bool { return !slices.Contains(r.readies, nil) || blaming() }) {
		return nil, r.missing(func(i int) bool { return r.readies[i] != nil }, "did not confirm the outputs"), nil
	}
	if blaming() {
		return r.blame(ctx, protocol.CJBlameAnswer)
	}
	for i, rd := range r.readies {
		if rd.Outputs != ready.Outputs {
			// The last peer showed i another list, or i lies about what
			// it saw: we cannot tell which, so both are avoided.
			return nil, map[int]string{r.n - 1: "outputs disagree", i: "outputs disagree"}, nil
		}
	}
	return outs, nil, nil
}

// blame reveals our round encryption key, collects everyone's, and
// replays the shuffle to find who spoilt it (the seed's attack
// complaint). A complainer whose complaint the replay does not bear out
// is blamed itself.
func (r *round) blame(ctx context.Context, reason uint8) ([][]byte, map[int]string, error) {
	if r.reveals[r.cfg.me] == nil {
		b := &protocol.CJBlame{Round: r.id, EncPriv: r.cfg.enc, Reason: reason}
		r.broadcast(ctx, b)
		r.reveals[r.cfg.me] = b
	}
	r.wait(ctx, r.cfg.phase, func() bool { return !slices.Contains(r.reveals, nil) })
	keys := make([][32]byte, r.n)
	for i, b := range r.reveals {
		if b != nil {
			keys[i] = b.EncPriv
		}
	}
	j, err := Blame(r.id, r.peers, r.passes, keys)
	if err != nil {
		return nil, nil, err
	}
	if j >= 0 {
		why := "spoilt the shuffle"
		if r.reveals[j] == nil {
			why = "did not reveal its round key in a blame"
		}
		return nil, map[int]string{j: why}, nil
	}
	// Every step was right: the complainers lied (those that revealed
	// only in answer to a complaint did not complain).
	liars := map[int]string{}
	for i, b := range r.reveals {
		if b != nil && i != r.cfg.me && b.Reason != protocol.CJBlameAnswer {
			liars[i] = "complained of a shuffle the replay shows was right"
		}
	}
	if len(liars) > 0 {
		return nil, liars, nil
	}
	return nil, nil, fmt.Errorf("%w: a blame replay found no one at fault", ErrRoundFailed)
}

// signAll builds, checks, records and signs the transaction, collects
// every signature and broadcasts it.
func (r *round) signAll(ctx context.Context, ins []Input, outs [][]byte, fail func(map[int]string, string) Outcome) Outcome {
	tx, err := Build(r.params, ins, outs)
	if err != nil {
		return Outcome{Err: err}
	}
	if err := CheckMine(r.params, tx, ins, outs, r.cfg.input, r.cfg.output); err != nil {
		return Outcome{Err: err}
	}
	// Persist, then act: the transaction our signature is for is on disk
	// before the signature leaves.
	if err := r.cfg.store.update(ctx, r.hold, StateSigning, tx, "", Traffic{}, false); err != nil {
		return Outcome{Err: err}
	}
	prev := PrevOuts(ins)
	if r.cfg.fault == FaultNoSign {
		// The tests' non-signer: it never signs, so nobody can complete
		// the transaction (a peer that signed but withheld its signature
		// could still broadcast it later, paying everyone as agreed).
		r.faulted = true
		r.wait(ctx, r.cfg.phase, func() bool { return false })
		return Outcome{Err: fmt.Errorf("%w: fault injection: no signature", ErrRoundFailed)}
	}
	signed := tx.Copy()
	if n, err := r.cfg.wallet.SignWalletInputs(ctx, signed, PrevOuts([]Input{r.cfg.input})); err != nil || n != 1 {
		return Outcome{Err: fmt.Errorf("coinjoin: signing our input: %d signed, %v", n, err)}
	}
	idx := slices.IndexFunc(tx.TxIn, func(in *wire.TxIn) bool { return in.PreviousOutPoint == r.cfg.input.OutPoint })
	sig := &protocol.CJTxSig{Round: r.id, OutPoint: r.cfg.input.OutPoint, Witness: signed.TxIn[idx].Witness}
	r.broadcast(ctx, sig)
	r.sigs[r.cfg.me] = sig
	ok := r.wait(ctx, r.cfg.phase, func() bool { return !slices.Contains(r.sigs, nil) })
	blamed := map[int]string{}
	for i, s := range r.sigs {
		if s == nil || i == r.cfg.me {
			continue
		}
		if err := verifyWitness(tx, s, ins[i], prev); err != nil {
			blamed[i] = "a bad signature: " + err.Error()
		}
	}
	if !ok || len(blamed) > 0 {
		for i, why := range r.missing(func(i int) bool { return r.sigs[i] != nil }, "did not sign") {
			blamed[i] = why
		}
		return fail(blamed, "signatures missing or bad")
	}
	for i, s := range r.sigs {
		j := slices.IndexFunc(tx.TxIn, func(in *wire.TxIn) bool { return in.PreviousOutPoint == ins[i].OutPoint })
		tx.TxIn[j].Witness = s.Witness
	}
	if err := script.Verify(tx, prev); err != nil {
		return Outcome{Err: fmt.Errorf("coinjoin: the complete transaction: %w", err)}
	}
	if err := r.cfg.store.update(ctx, r.hold, StateBroadcast, tx, "", Traffic{}, false); err != nil {
		return Outcome{Err: err}
	}
	fee := btcutil.Amount(r.cfg.input.Value - r.params.Denomination)
	if err := r.cfg.wallet.PublishTx(context.WithoutCancel(ctx), tx, fee, "coinjoin"); err != nil {
		// Another participant's copy may have reached the node first, or
		// the node is away: the wallet rebroadcasts what it stored.
		r.cfg.log.Warn("coinjoin: broadcast", "txid", tx.TxHash(), "err", err)
	}
	return Outcome{Tx: tx}
}

// verifyWitness checks a peer's witness for its input of tx.
func verifyWitness(tx *wire.MsgTx, s *protocol.CJTxSig, in Input, prev map[wire.OutPoint]*wire.TxOut) error {
	if s.OutPoint != in.OutPoint {
		return errors.New("for another input")
	}
	if len(s.Witness) != 2 {
		return errors.New("not a P2WPKH witness")
	}
	pub, err := btcec.ParsePubKey(s.Witness[1])
	if err != nil {
		return err
	}
	if !bytes.Equal(script.P2WPKHPkScript(pub), in.PkScript) {
		return errors.New("a key that is not the input's")
	}
	idx := slices.IndexFunc(tx.TxIn, func(t *wire.TxIn) bool { return t.PreviousOutPoint == in.OutPoint })
	if idx < 0 {
		return errors.New("an input not in the transaction")
	}
	return script.VerifyInputSig(tx, idx, nil, in.Value, in.PkScript, pub, s.Witness[0])
}

// dialEnded: one of the initiator's invite dials ended (linked or not).
func (r *round) dialEnded() {
	r.dialing.Add(-1)
	select {
	case r.linked <- struct{}{}:
	default:
	}
}
