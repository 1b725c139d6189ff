package coinjoin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
//     or not worth the round is refused before anyone's output moves.
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
	// holdMargin: our coin stays held this long past the round's deadline,
	// for the broadcast of a transaction that completed at the deadline.
	holdMargin = time.Minute

	// maxMsgsPerPeer: what one peer may send in a round (accept, input,
	// pass, ready, blame, signature, abort, and a spare); more is a flood and
	// cuts its stream.
	maxMsgsPerPeer = 8
)

// roundDuration is the longest a round of n can take: linking, inputs,
// n shuffle steps, the blame replay and the signatures.
func roundDuration(n int, phase, link time.Duration) time.Duration {
	return link + time.Duration(n+3)*phase
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
// disruptor the issue names.
const (
	FaultNone = ""
	// FaultNoSign: take part but never send our signature.
	FaultNoSign = "no-sign"
	// FaultAlterOutput: as the last of the shuffle, replace another
	// participant's output with one of ours (and, as initiator, put
	// ourselves last).
	FaultAlterOutput = "alter-output"
	// FaultCrashAfterInput: die (SIGKILL) right after sending our input.
	FaultCrashAfterInput = "crash-after-input"
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
	fault       string
	crash       func()
	phase       time.Duration
	link        time.Duration
	minConf     int32
	log         *slog.Logger
}

type inMsg struct {
	from int
	msg  protocol.Message
}

// round is one participant's run of one round.
type round struct {
	cfg    roundConfig
	id     [32]byte
	n      int
	peers  []ShufflePeer
	params Params

	inbox chan inMsg
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  []*protocol.Conn
	linked chan struct{} // signalled when a stream is attached
	sentBy []int         // messages received per peer
	closed bool
	gone   []protocol.Stats // traffic of closed streams

	// state from the peers' messages, touched by run only
	inputs  []*protocol.CJInput
	passes  []*protocol.CJPass
	reveals []*protocol.CJBlame
	readies []*protocol.CJReady
	sigs    []*protocol.CJTxSig
	aborts  []string
	bad     []string // a peer's message that failed its checks
}

// Outcome is how a round ended for us.
type Outcome struct {
	// Tx: the complete transaction, broadcast (nil when the round failed).
	Tx *wire.MsgTx
	// Blamed: positions of the peers that spoilt it, with why.
	Blamed map[int]string
	// Inputs: the peers' inputs as they sent them (nil where none came),
	// so the service can imprison the blamed ones'.
	Inputs []*protocol.CJInput
	Err    error
	// Traffic: what this participant sent and received in the round.
	Traffic Traffic
}

func newRound(cfg roundConfig) *round {
	inv := cfg.invite
	n := len(inv.Peers)
	r := &round{cfg: cfg, id: inv.Round, n: n, inbox: make(chan inMsg, 8*n), done: make(chan struct{}),
		conns: make([]*protocol.Conn, n), linked: make(chan struct{}, 1), sentBy: make([]int, n),
		inputs: make([]*protocol.CJInput, n), passes: make([]*protocol.CJPass, n),
		reveals: make([]*protocol.CJBlame, n), readies: make([]*protocol.CJReady, n), sigs: make([]*protocol.CJTxSig, n),
		aborts: make([]string, n), bad: make([]string, n)}
	r.peers = make([]ShufflePeer, n)
	for i, p := range inv.Peers {
		r.peers[i] = ShufflePeer{Sign: p.SignKey, Enc: p.EncKey}
	}
	r.params = Params{Denomination: inv.Denomination, FeeRate: int64(inv.FeeRate)}
	return r
}

// identify returns the position whose round key signed m (−1: none).
func (r *round) identify(m interface{ Verify([32]byte) error }) int {
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
	if r.closed || r.conns[i] != nil {
		r.mu.Unlock()
		return false
	}
	r.conns[i] = c
	r.wg.Add(1)
	r.mu.Unlock()
	select {
	case r.linked <- struct{}{}:
	default:
	}
	go r.read(i, c, first)
	return true
}

func (r *round) read(i int, c *protocol.Conn, first protocol.Message) {
	defer r.wg.Done()
	deliver := func(m protocol.Message) bool {
		r.mu.Lock()
		r.sentBy[i]++
		flood := r.sentBy[i] > maxMsgsPerPeer
		r.mu.Unlock()
		if flood {
			_ = c.CloseWithError(protocol.CodeRateLimited, "coinjoin: too many messages in one round")
			return false
		}
		select {
		case r.inbox <- inMsg{from: i, msg: m}:
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
		if err != nil || !deliver(m) {
			return
		}
	}
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

// close ends every stream and waits for their readers.
func (r *round) close() Traffic {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.done)
	}
	conns := slices.Clone(r.conns)
	r.mu.Unlock()
	var t Traffic
	for _, c := range conns {
		if c == nil {
			continue
		}
		_ = c.Close()
		s := c.Stats()
		t.MsgsSent += int(s.MsgsSent)
		t.MsgsRecv += int(s.MsgsReceived)
		t.BytesSent += int64(s.BytesSent)
		t.BytesRecv += int64(s.BytesReceived)
	}
	r.wg.Wait()
	return t
}

// broadcast signs m with our round key and sends it to every other
// participant at once; a peer whose stream fails will be blamed by the
// phase that waits for it.
func (r *round) broadcast(ctx context.Context, m interface {
	protocol.Message
	Sign(*btcec.PrivateKey) error
}) {
	if err := m.Sign(r.cfg.sign); err != nil {
		r.cfg.log.Warn("coinjoin: signing a round message failed", "err", err)
		return
	}
	r.mu.Lock()
	conns := slices.Clone(r.conns)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.phase)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil || i == r.cfg.me {
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
// this round; anything else marks the peer bad.
func (r *round) take(m inMsg) {
	key := r.peers[m.from].Sign
	check := func(round [32]byte, v interface{ Verify([32]byte) error }) bool {
		if round != r.id {
			r.bad[m.from] = "a message for another round"
			return false
		}
		if err := v.Verify(key); err != nil {
			r.bad[m.from] = "a message not signed by its round key"
			return false
		}
		return true
	}
	switch v := m.msg.(type) {
	case *protocol.CJAccept:
		check(v.Round, v)
	case *protocol.CJInvite:
		// the initiator's invite on its stream: already taken
	case *protocol.CJInput:
		if r.inputs[m.from] == nil && check(v.Round, v) {
			r.inputs[m.from] = v
		}
	case *protocol.CJPass:
		// Every pass is broadcast by the participant at its step.
		if int(v.Step) != m.from {
			r.bad[m.from] = "a pass for another position"
		} else if r.passes[m.from] == nil && check(v.Round, v) {
			r.passes[m.from] = v
		}
	case *protocol.CJBlame:
		if r.reveals[m.from] == nil && check(v.Round, v) {
			r.reveals[m.from] = v
		}
	case *protocol.CJReady:
		if r.readies[m.from] == nil && check(v.Round, v) {
			r.readies[m.from] = v
		}
	case *protocol.CJTxSig:
		if r.sigs[m.from] == nil && check(v.Round, v) {
			r.sigs[m.from] = v
		}
	case *protocol.CJAbort:
		if r.aborts[m.from] == "" && check(v.Round, v) {
			r.aborts[m.from] = "left the round: " + cleanReason(v.Reason)
		}
	default:
		r.bad[m.from] = fmt.Sprintf("an unexpected %s", m.msg.Type())
	}
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

// wait takes messages until cond holds (true), a peer misbehaved or left
// (false), or d passes without cond (false).
func (r *round) wait(ctx context.Context, d time.Duration, cond func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for !cond() {
		if r.spoilt() != nil {
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

// spoilt: the peers that misbehaved or left so far.
func (r *round) spoilt() map[int]string {
	var out map[int]string
	for i := range r.n {
		why := r.bad[i]
		if why == "" {
			why = r.aborts[i]
		}
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
// attached already; dial, if set, opens ours to the peers we must reach.
func (r *round) run(ctx context.Context, dial func(ctx context.Context, i int)) (out Outcome) {
	ctx, cancel := context.WithDeadline(ctx, time.Unix(int64(r.cfg.invite.Deadline), 0))
	defer cancel()
	defer func() {
		out.Traffic = r.close()
		out.Inputs = r.inputs
	}()
	fail := func(blamed map[int]string, why string) Outcome {
		if len(blamed) > 0 {
			r.broadcast(context.WithoutCancel(ctx), &protocol.CJAbort{Round: r.id, Reason: why})
		}
		return Outcome{Blamed: blamed, Err: fmt.Errorf("%w: %s", ErrRoundFailed, why)}
	}

	// Link.
	if dial != nil {
		for i := range r.n {
			if i != r.cfg.me && i != r.cfg.init && r.cfg.me != r.cfg.init && r.cfg.me < i {
				go dial(ctx, i)
			}
		}
	}
	if !r.wait(ctx, r.cfg.link, r.linkedAll) {
		return fail(r.missing(func(i int) bool { r.mu.Lock(); defer r.mu.Unlock(); return r.conns[i] != nil }, "no stream"), "not every participant linked")
	}

	// 1. Inputs.
	mine := &protocol.CJInput{Round: r.id, OutPoint: r.cfg.input.OutPoint, Value: r.cfg.input.Value, PkScript: r.cfg.input.PkScript}
	r.broadcast(ctx, mine)
	r.inputs[r.cfg.me] = mine
	if r.cfg.fault == FaultCrashAfterInput && r.cfg.crash != nil {
		r.cfg.crash()
	}
	if !r.wait(ctx, r.cfg.phase, func() bool { return !slices.Contains(r.inputs, nil) }) {
		return fail(r.missing(func(i int) bool { return r.inputs[i] != nil }, "sent no input"), "inputs missing")
	}
	ins, blamed := r.checkInputs(ctx)
	if len(blamed) > 0 {
		return fail(blamed, "an input was refused")
	}
	if err := r.cfg.store.update(ctx, r.id, StateShuffling, nil, "", Traffic{}, false); err != nil {
		return Outcome{Err: err}
	}

	// 2. Outputs.
	outs, blamed, err := r.shuffle(ctx)
	if err != nil {
		return Outcome{Err: err}
	}
	if len(blamed) > 0 {
		return fail(blamed, "the shuffle was spoilt")
	}

	// 3. Signatures.
	return r.signAll(ctx, ins, outs, fail)
}

// checkInputs checks every peer's coin on our chain backend.
func (r *round) checkInputs(ctx context.Context) ([]Input, map[int]string) {
	blamed := map[int]string{}
	ins := make([]Input, r.n)
	seen := map[wire.OutPoint]bool{}
	for i, m := range r.inputs {
		in := Input{OutPoint: m.OutPoint, Value: m.Value, PkScript: m.PkScript}
		ins[i] = in
		if i == r.cfg.me {
			seen[in.OutPoint] = true
			continue
		}
		if seen[in.OutPoint] {
			blamed[i] = "an input already in the round"
			continue
		}
		seen[in.OutPoint] = true
		if err := r.params.CheckInput(in, r.n); err != nil {
			blamed[i] = err.Error()
			continue
		}
		if r.cfg.imprisoned != nil && r.cfg.imprisoned(ctx, in.OutPoint) {
			blamed[i] = "an input in prison"
			continue
		}
		out, conf, err := r.cfg.chain.UTXO(ctx, in.OutPoint)
		switch {
		case errors.Is(err, chain.ErrNotFound):
			blamed[i] = "an input that is spent or does not exist"
		case err != nil:
			blamed[i] = "an input our chain backend could not look up: " + err.Error()
		case out.Value != in.Value || !bytes.Equal(out.PkScript, in.PkScript):
			blamed[i] = "an input whose value or script is not the chain's"
		case conf < r.cfg.minConf:
			blamed[i] = "an unconfirmed input"
		}
	}
	return ins, blamed
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
			return r.blame(ctx, protocol.CJBlameUnopenable)
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
		return r.blame(ctx, protocol.CJBlameMissingOutput)
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
	// Every step was right: the first complainer lied.
	for i, b := range r.reveals {
		if b != nil && i != r.cfg.me && b.Reason != 0 {
			return nil, map[int]string{i: "complained of a shuffle the replay shows was right"}, nil
		}
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
	if err := r.cfg.store.update(ctx, r.id, StateSigning, tx, "", Traffic{}, false); err != nil {
		return Outcome{Err: err}
	}
	prev := PrevOuts(ins)
	signed := tx.Copy()
	if n, err := r.cfg.wallet.SignWalletInputs(ctx, signed, PrevOuts([]Input{r.cfg.input})); err != nil || n != 1 {
		return Outcome{Err: fmt.Errorf("coinjoin: signing our input: %d signed, %v", n, err)}
	}
	idx := slices.IndexFunc(tx.TxIn, func(in *wire.TxIn) bool { return in.PreviousOutPoint == r.cfg.input.OutPoint })
	sig := &protocol.CJTxSig{Round: r.id, OutPoint: r.cfg.input.OutPoint, Witness: signed.TxIn[idx].Witness}
	if r.cfg.fault != FaultNoSign {
		r.broadcast(ctx, sig)
	}
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
	if err := r.cfg.store.update(ctx, r.id, StateBroadcast, tx, "", Traffic{}, false); err != nil {
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
