package protocol

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/onionswap/onionswap/internal/ratelimit"
)

// Default timeouts are lnd's peer constants ×3 because every stream runs
// over Tor circuits (several relays, often 0.5–2 s round trips; lnd's
// scaleTimeout does the same for Tor). pong < ping interval < idle, so a
// live peer's pongs keep the connection from idling out and a dead one is
// found by the pong timeout first.
const (
	DefaultHandshakeTimeout = 45 * time.Second // lnd handshakeTimeout 15 s ×3
	DefaultReadTimeout      = 15 * time.Second // lnd readMessageTimeout 5 s ×3, after a frame's first byte
	DefaultWriteTimeout     = 15 * time.Second // lnd writeMessageTimeout 5 s ×3
	DefaultIdleTimeout      = 15 * time.Minute // lnd idleTimeout 5 min ×3
	DefaultPingInterval     = 3 * time.Minute  // lnd pingInterval 1 min ×3
	DefaultPongTimeout      = 90 * time.Second // lnd pingTimeout 30 s ×3; must be < PingInterval

	// DefaultMinTransferRate extends the read/write deadline of a frame
	// by its size at this rate: Tor circuits usually carry ≥ 100 KiB/s, so
	// at 16 KiB/s a maximum (1 MiB) frame gets 64 s on top of the base
	// timeout while a slow-loris peer still hits the base timeout on the
	// header.
	DefaultMinTransferRate = 16 * 1024

	// DefaultMsgRate/DefaultMsgBurst: a swap exchanges a handful of
	// messages per Tor round trip (≥ 0.5 s); 20/s sustained with bursts of
	// 100 is far above honest use and cheap to serve.
	DefaultMsgRate  = 20
	DefaultMsgBurst = 100

	// DefaultByteRate: 512 KiB/s sustained is above what one Tor circuit
	// delivers, so it only bites on a peer sending junk as fast as it can.
	// DefaultByteBurst: two maximum frames back to back.
	DefaultByteRate  = 512 * 1024
	DefaultByteBurst = 2 * MaxFrameSize

	// DefaultRecvQueue: decoded messages buffered for Receive.
	DefaultRecvQueue = 16

	// DefaultRejectLinger: how long we keep the stream open to deliver an
	// Error before closing (draining input meanwhile, so the close does not
	// turn into a TCP reset that would destroy the Error in flight).
	DefaultRejectLinger = 2 * time.Second
)

// The byte burst must hold a maximum frame, or a legitimate maximum-size
// message would always be rate limited (fails to compile otherwise).
const _ = uint(DefaultByteBurst - MaxFrameSize)

// ConnConfig tunes a Conn. Zero values take the defaults above; a
// negative PingInterval or IdleTimeout disables pings or the idle timeout.
type ConnConfig struct {
	HandshakeTimeout time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration
	PingInterval     time.Duration
	PongTimeout      time.Duration
	MinTransferRate  int // bytes/s used to extend per-frame deadlines
	RejectLinger     time.Duration

	MsgRate   float64 // inbound frames per second
	MsgBurst  int
	ByteRate  float64 // inbound bytes per second
	ByteBurst int     // must be ≥ MaxFrameSize

	RecvQueue int

	// KnownFeatures are the feature bits we understand; nil means the
	// bits of the local Hello.
	KnownFeatures Features

	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time

	Logger *slog.Logger
}

func (c ConnConfig) withDefaults() ConnConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PongTimeout, DefaultPongTimeout)
	def(&c.RejectLinger, DefaultRejectLinger)
	c.MinTransferRate = cmp.Or(c.MinTransferRate, DefaultMinTransferRate)
	c.MsgRate = cmp.Or(c.MsgRate, DefaultMsgRate)
	c.MsgBurst = cmp.Or(c.MsgBurst, DefaultMsgBurst)
	c.ByteRate = cmp.Or(c.ByteRate, DefaultByteRate)
	c.ByteBurst = cmp.Or(c.ByteBurst, DefaultByteBurst)
	c.RecvQueue = cmp.Or(c.RecvQueue, DefaultRecvQueue)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "protocol")
	}
	return c
}

// Validate checks a config after defaults are applied.
func (c ConnConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.HandshakeTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.PongTimeout < 0 || c.RejectLinger < 0:
		return fmt.Errorf("%w: negative timeout", ErrInvalidConfig)
	case c.PingInterval > 0 && c.PongTimeout >= c.PingInterval:
		return fmt.Errorf("%w: PongTimeout %v must be < PingInterval %v", ErrInvalidConfig, c.PongTimeout, c.PingInterval)
	case c.ByteBurst < MaxFrameSize:
		return fmt.Errorf("%w: ByteBurst %d < MaxFrameSize %d", ErrInvalidConfig, c.ByteBurst, MaxFrameSize)
	case c.MsgBurst < 1 || c.MsgRate <= 0 || c.ByteRate <= 0 || c.MinTransferRate <= 0 || c.RecvQueue < 0:
		return fmt.Errorf("%w: rates and bursts must be positive", ErrInvalidConfig)
	}
	return nil
}

// Stats counts traffic on one connection, frames and bytes on the wire
// (headers included), pings included.
type Stats struct {
	MsgsSent, MsgsReceived   uint64
	BytesSent, BytesReceived uint64
	PingsSent, PongsReceived uint64
}

// Conn is a framed, handshaken, rate-limited protocol connection over any
// net.Conn (a Tor stream in production, net.Pipe or TCP in tests).
//
// After Handshake it runs two goroutines: a reader that decodes frames,
// answers pings, skips unknown odd types and queues messages for Receive,
// and a keep-alive goroutine (pings, pongs). Both stop on Close or on any fatal error; whoever ends the
// connection for a protocol reason first sends an Error to the peer.
// Send is safe from several goroutines; Receive from one at a time.
type Conn struct {
	nc  net.Conn
	cfg ConnConfig
	log *slog.Logger

	wmu sync.Mutex // serializes frames on the wire

	hsStarted atomic.Bool
	hsDone    atomic.Bool
	local     Hello
	peer      *Hello
	version   uint16

	in     chan Message
	pongCh chan uint64
	syncMu sync.Mutex
	syncs  map[uint64]chan struct{} // Sync's pings waiting for their pongs
	pingIn chan *Ping
	quit   chan struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error

	msgBucket, byteBucket *ratelimit.Bucket
	// idleTimeout is cfg.IdleTimeout, changeable after the handshake
	// (SetIdleTimeout) while the reader uses it.
	idleTimeout atomic.Int64

	msgsSent, msgsRecv, bytesSent, bytesRecv, pingsSent, pongsRecv atomic.Uint64
}

// NewConn wraps c. Nothing happens on the wire until Handshake.
func NewConn(c net.Conn, cfg ConnConfig) *Conn {
	cfg = cfg.withDefaults()
	conn := &Conn{
		nc:         c,
		cfg:        cfg,
		log:        cfg.Logger,
		in:         make(chan Message, cfg.RecvQueue),
		pongCh:     make(chan uint64, 1),
		pingIn:     make(chan *Ping, 1),
		quit:       make(chan struct{}),
		msgBucket:  ratelimit.New(cfg.MsgRate, float64(cfg.MsgBurst), cfg.Now),
		byteBucket: ratelimit.New(cfg.ByteRate, float64(cfg.ByteBurst), cfg.Now),
	}
	conn.idleTimeout.Store(int64(cfg.IdleTimeout))
	return conn
}

// SetIdleTimeout replaces the idle timeout (≤ 0: none) from the next frame
// on: a server that learns from the first message which service a
// connection is for applies that service's own.
func (c *Conn) SetIdleTimeout(d time.Duration) { c.idleTimeout.Store(int64(d)) }

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Handshake sends local (with a random Nonce if local's is zero) and
// reads the peer's Hello, concurrently, within HandshakeTimeout (or ctx's
// deadline if earlier). Anything but a Hello, a network or version
// mismatch, an unknown required feature or our own nonce is answered with
// an Error and the connection is closed. On success it returns the peer's
// Hello and starts the reader and keep-alive goroutines.
func (c *Conn) Handshake(ctx context.Context, local *Hello) (*Hello, error) {
	return c.HandshakeWith(ctx, local)
}

// HandshakeWith is Handshake that also sends pipelined messages right
// behind our Hello, in the same write, without waiting for the peer's
// Hello: a request whose answer we need anyway (a taker's OfferRequest)
// then costs no round trip of its own, which over Tor is most of the
// latency. The peer reads them only after its side of the handshake is
// complete, so the "nothing before the handshake" rule holds; if the peer
// refuses the handshake they are discarded unread. Pipelined messages
// count in Stats like any other.
func (c *Conn) HandshakeWith(ctx context.Context, local *Hello, pipelined ...Message) (*Hello, error) {
	if err := c.cfg.Validate(); err != nil {
		c.shutdown(err)
		return nil, err
	}
	if !c.hsStarted.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: handshake already started", ErrHandshake)
	}
	if local == nil || local.MinVersion > local.MaxVersion || !validNetwork(local.Network) {
		err := fmt.Errorf("%w: invalid local hello", ErrHandshake)
		c.shutdown(err)
		return nil, err
	}
	h := *local
	if h.Nonce == ([32]byte{}) {
		if _, err := rand.Read(h.Nonce[:]); err != nil {
			c.shutdown(err)
			return nil, err
		}
	}
	frame, err := EncodeMessage(&h)
	if err != nil {
		c.shutdown(err)
		return nil, err
	}
	for _, m := range pipelined {
		if m == nil || m.Type() == TypeHello {
			err := fmt.Errorf("%w: cannot pipeline %v behind the hello", ErrHandshake, m)
			c.shutdown(err)
			return nil, err
		}
		if frame, err = AppendFrame(frame, m); err != nil {
			c.shutdown(err)
			return nil, err
		}
	}
	frames := uint64(1 + len(pipelined))
	c.local = h
	known := c.cfg.KnownFeatures
	if known == nil {
		known = h.Features
	}

	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.nc.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.nc.SetDeadline(aLongTimeAgo)
		close(fired)
	})

	// Write and read at once: on a synchronous transport (net.Pipe) two
	// peers that both wrote first would deadlock.
	werr := make(chan error, 1)
	go func() {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		n, err := c.nc.Write(frame)
		c.bytesSent.Add(uint64(n))
		if err == nil {
			c.msgsSent.Add(frames)
		}
		werr <- err
	}()
	msg, rerr := c.readFrame(true)
	wErr := <-werr
	if !stop() {
		<-fired
	}

	fail := func(cause error) (*Hello, error) {
		err := fmt.Errorf("%w: %w", ErrHandshake, cause)
		c.shutdown(err)
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		// ctx and the socket deadline can fire together; whichever did,
		// the peer is told why (a refused peer never faces a silent
		// close): a timeout for a deadline, a shutdown for a cancel.
		if errors.Is(err, context.DeadlineExceeded) {
			c.reject(CodeTimeout, "handshake timed out")
		} else {
			c.reject(CodeShutdown, "shutting down")
		}
		return fail(err)
	}
	if rerr != nil {
		if isTimeout(rerr) || errors.Is(rerr, ErrIdleTimeout) || errors.Is(rerr, ErrReadTimeout) {
			c.reject(CodeTimeout, "handshake timed out")
			return fail(fmt.Errorf("%w: %w", ErrHandshakeTimeout, rerr))
		}
		if code, text, ok := rejectionFor(rerr); ok {
			c.reject(code, text)
		}
		return fail(rerr)
	}
	if wErr != nil {
		return fail(wErr)
	}
	var peer *Hello
	switch m := msg.(type) {
	case *Hello:
		peer = m
	case *Error:
		return fail(&PeerError{Code: m.Code, Text: m.Text, SwapID: m.SwapID})
	default:
		c.reject(CodeProtocolViolation, "expected hello, got "+msg.Type().String())
		return fail(fmt.Errorf("%w: %s before hello", ErrUnexpectedMessage, msg.Type()))
	}
	version, code, err := CheckHello(&h, peer, known)
	if err != nil {
		c.reject(code, err.Error())
		return fail(err)
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.peer, c.version = peer, version
	c.hsDone.Store(true)
	c.log.Debug("handshake complete", "version", version, "peer_agent", peer.UserAgent)

	c.wg.Add(2)
	go c.readLoop()
	go c.keepAlive()
	return peer, nil
}

// PeerHello returns the peer's Hello (nil before the handshake).
func (c *Conn) PeerHello() *Hello {
	if !c.hsDone.Load() {
		return nil
	}
	return c.peer
}

// Version returns the negotiated protocol version (0 before the handshake).
func (c *Conn) Version() uint16 {
	if !c.hsDone.Load() {
		return 0
	}
	return c.version
}

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Stats returns the traffic counters.
func (c *Conn) Stats() Stats {
	return Stats{
		MsgsSent: c.msgsSent.Load(), MsgsReceived: c.msgsRecv.Load(),
		BytesSent: c.bytesSent.Load(), BytesReceived: c.bytesRecv.Load(),
		PingsSent: c.pingsSent.Load(), PongsReceived: c.pongsRecv.Load(),
	}
}

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.quit }

// Err returns why the connection ended (nil while it is open): ErrClosed
// after Close, *PeerError if the peer sent an Error, ErrRateLimited, ...
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Send writes msg as one frame within WriteTimeout (plus its size at
// MinTransferRate; ctx's deadline if earlier). Safe for concurrent use. A
// failed write ends the connection: the stream may hold half a frame.
func (c *Conn) Send(ctx context.Context, msg Message) error {
	if !c.hsDone.Load() {
		return fmt.Errorf("%w: send before handshake", ErrHandshake)
	}
	switch msg.(type) {
	case *Hello, *Unknown:
		return fmt.Errorf("%w: cannot send %s after the handshake", ErrUnexpectedMessage, msg.Type())
	}
	frame, err := EncodeMessage(msg)
	if err != nil {
		return err
	}
	return c.writeFrame(ctx, frame)
}

// Sync writes a ping and waits for its pong. The stream is ordered and
// the peer's reader queues every message before it answers a ping, so a
// nil return means everything sent before Sync reached the peer's
// process. A node that is about to close its links needs that: bytes
// still in tor's buffers when tor exits are lost, while a written frame
// only says the local socket took them. A peer that already has a ping of
// ours waiting drops this one (see the reader), and Sync then waits for
// ctx.
func (c *Conn) Sync(ctx context.Context) error {
	if !c.hsDone.Load() {
		return fmt.Errorf("%w: sync before handshake", ErrHandshake)
	}
	nonce := pingNonce()
	ch := make(chan struct{})
	c.syncMu.Lock()
	if c.syncs == nil {
		c.syncs = map[uint64]chan struct{}{}
	}
	c.syncs[nonce] = ch
	c.syncMu.Unlock()
	defer func() {
		c.syncMu.Lock()
		delete(c.syncs, nonce)
		c.syncMu.Unlock()
	}()
	frame, err := EncodeMessage(&Ping{Nonce: nonce})
	if err != nil {
		return err
	}
	if err := c.writeFrame(ctx, frame); err != nil {
		return err
	}
	c.pingsSent.Add(1)
	select {
	case <-ch:
		return nil
	case <-c.quit:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pingNonce is a random ping nonce: a pong names the ping it answers.
func pingNonce() uint64 {
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	return binary.BigEndian.Uint64(nb[:])
}

func (c *Conn) writeFrame(ctx context.Context, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.quit:
		return c.Err()
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d := time.Now().Add(c.cfg.WriteTimeout + c.transferAllowance(len(frame)))
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	_ = c.nc.SetWriteDeadline(d)
	n, err := c.nc.Write(frame)
	c.bytesSent.Add(uint64(n))
	if err != nil {
		err = fmt.Errorf("protocol: write: %w", err)
		c.shutdown(err)
		return err
	}
	c.msgsSent.Add(1)
	return nil
}

func (c *Conn) transferAllowance(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(c.cfg.MinTransferRate))
}

// Receive returns the next message. Pings, pongs and unknown odd types
// are handled internally and never returned. When the connection ends it
// returns why (see Err); messages received before the end are delivered
// first.
func (c *Conn) Receive(ctx context.Context) (Message, error) {
	if !c.hsDone.Load() {
		return nil, fmt.Errorf("%w: receive before handshake", ErrHandshake)
	}
	select {
	case m := <-c.in:
		return m, nil
	default:
	}
	select {
	case m := <-c.in:
		return m, nil
	case <-c.quit:
		select {
		case m := <-c.in:
			return m, nil
		default:
		}
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the connection and waits for its goroutines. Idempotent.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

// CloseWithError tells the peer why (best effort, within WriteTimeout),
// then closes.
func (c *Conn) CloseWithError(code ErrorCode, text string) error {
	if c.hsDone.Load() {
		if frame, err := EncodeMessage(&Error{Code: code, Text: Clip(text)}); err == nil {
			_ = c.writeFrame(context.Background(), frame)
		}
	}
	return c.Close()
}

// shutdown records the first cause, stops the goroutines and closes the
// transport. It never waits, so the goroutines themselves may call it.
func (c *Conn) shutdown(cause error) {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		c.err = cause
		c.errMu.Unlock()
		close(c.quit)
		_ = c.nc.Close()
		if !errors.Is(cause, ErrClosed) {
			c.log.Debug("connection ended", "err", cause)
		}
	})
}

// reject sends Error{code, text} to the peer and lingers until it is
// written, draining (and discarding) input meanwhile: on net.Pipe the peer
// may itself be writing, and on TCP closing with unread input would send
// a reset that can destroy our Error before the peer reads it. Only the
// goroutine that owns reading (the handshake, then the reader) calls it.
func (c *Conn) reject(code ErrorCode, text string) {
	frame, err := EncodeMessage(&Error{Code: code, Text: Clip(text)})
	if err != nil {
		return
	}
	deadline := time.Now().Add(c.cfg.RejectLinger)
	_ = c.nc.SetReadDeadline(deadline)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, c.nc)
	}()
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(deadline)
	n, werr := c.nc.Write(frame)
	c.wmu.Unlock()
	c.bytesSent.Add(uint64(n))
	if werr == nil {
		c.msgsSent.Add(1)
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			// Half-close so the peer sees EOF after our Error, then wait
			// for it to close (or the linger deadline).
			_ = cw.CloseWrite()
			<-drained
		}
	}
	_ = c.nc.Close()
	<-drained
}

// failConn sends an Error and ends the connection with cause (reader only).
func (c *Conn) failConn(code ErrorCode, text string, cause error) {
	c.reject(code, text)
	c.shutdown(cause)
}

// rejectionFor maps a read error to the Error we send, if any. I/O
// failures (peer gone) get none: nobody would read it.
func rejectionFor(err error) (ErrorCode, string, bool) {
	switch {
	case errors.Is(err, ErrRateLimited):
		return CodeRateLimited, "rate limit exceeded", true
	case errors.Is(err, ErrIdleTimeout):
		return CodeTimeout, "idle timeout", true
	case errors.Is(err, ErrReadTimeout):
		return CodeTimeout, "message not completed in time", true
	}
	var de *DecodeError
	if errors.As(err, &de) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			return 0, "", false // the peer hung up mid-frame
		}
		return CodeProtocolViolation, de.Error(), true
	}
	return 0, "", false
}

// Clip shortens s to what an Error, Nack or Abort text may hold
// (MaxErrorTextLen bytes), on a UTF-8 boundary, so a long wrapped error
// never makes a reply fail to encode.
func Clip(s string) string {
	if len(s) <= MaxErrorTextLen {
		return s
	}
	s = s[:MaxErrorTextLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFrame reads and decodes one frame. In the handshake the overall
// handshake deadline applies; afterwards the first header byte may take
// up to IdleTimeout and the rest of the frame ReadTimeout (+ size at
// MinTransferRate), so a peer trickling a header is cut off. Rate limits
// are charged once the header is known, before the payload is read.
func (c *Conn) readFrame(handshake bool) (Message, error) {
	var hdr [HeaderSize]byte
	if !handshake {
		var d time.Time
		if idle := time.Duration(c.idleTimeout.Load()); idle > 0 {
			d = time.Now().Add(idle)
		}
		_ = c.nc.SetReadDeadline(d)
	}
	if _, err := io.ReadFull(c.nc, hdr[:1]); err != nil {
		if isTimeout(err) && !handshake {
			return nil, fmt.Errorf("%w: no frame for %v", ErrIdleTimeout, time.Duration(c.idleTimeout.Load()))
		}
		return nil, err
	}
	if !handshake {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout))
	}
	k, err := io.ReadFull(c.nc, hdr[1:])
	c.bytesRecv.Add(uint64(1 + k))
	if err != nil {
		if isTimeout(err) && !handshake {
			return nil, fmt.Errorf("%w: header: %w", ErrReadTimeout, err)
		}
		return nil, truncErr("frame", "Header[1:]", err)
	}
	h, err := ParseHeader(&hdr)
	if err != nil {
		return nil, err
	}
	if !c.msgBucket.Allow() {
		return nil, fmt.Errorf("%w: more than %v messages/s", ErrRateLimited, c.cfg.MsgRate)
	}
	if !c.byteBucket.AllowN(float64(LengthSize + h.Length)) {
		return nil, fmt.Errorf("%w: more than %v bytes/s", ErrRateLimited, c.cfg.ByteRate)
	}
	if !handshake {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout + c.transferAllowance(h.PayloadLen())))
	}
	msg, n, err := readBody(c.nc, h)
	c.bytesRecv.Add(uint64(n - HeaderSize))
	if err != nil {
		if isTimeout(err) && !handshake {
			return nil, fmt.Errorf("%w: payload: %w", ErrReadTimeout, err)
		}
		return nil, err
	}
	c.msgsRecv.Add(1)
	return msg, nil
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer func() {
		// Panic containment: one peer's malformed input must not take the
		// node down. Decoders are fuzzed, so this should never fire.
		if r := recover(); r != nil {
			c.log.Warn("panic in protocol reader", "panic", r)
			c.shutdown(fmt.Errorf("protocol: reader panic: %v", r))
		}
	}()
	for {
		msg, err := c.readFrame(false)
		if err != nil {
			select {
			case <-c.quit: // closed locally; the read error is a consequence
				return
			default:
			}
			if code, text, ok := rejectionFor(err); ok {
				c.failConn(code, text, err)
			} else {
				c.shutdown(fmt.Errorf("protocol: read: %w", err))
			}
			return
		}
		switch m := msg.(type) {
		case *Unknown:
			c.log.Debug("skipped unknown optional message", "type", m.MsgType)
		case *Ping:
			// Answered by keepAlive; if a ping is already waiting for
			// its pong the peer is pinging faster than it should and this
			// one is dropped.
			select {
			case c.pingIn <- m:
			default:
			}
		case *Pong:
			c.pongsRecv.Add(1)
			c.syncMu.Lock()
			ch, isSync := c.syncs[m.Nonce]
			delete(c.syncs, m.Nonce)
			c.syncMu.Unlock()
			if isSync {
				close(ch)
				continue
			}
			select {
			case c.pongCh <- m.Nonce:
			default:
			}
		case *Error:
			c.shutdown(&PeerError{Code: m.Code, Text: m.Text, SwapID: m.SwapID})
			return
		case *Hello:
			c.failConn(CodeProtocolViolation, "hello after handshake", fmt.Errorf("%w: second hello", ErrUnexpectedMessage))
			return
		default:
			select {
			case c.in <- msg:
			case <-c.quit:
				return
			}
		}
	}
}

// keepAlive sends our pings, watches for their pongs and writes the pongs
// the reader asks for. Pongs are written here, not by the reader, so the
// reader never blocks on a write: on a synchronous transport (net.Pipe)
// two readers each writing a pong to the other would deadlock.
func (c *Conn) keepAlive() {
	defer c.wg.Done()
	var tick <-chan time.Time
	if c.cfg.PingInterval > 0 {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	var (
		timer       *time.Timer
		pongTimeout <-chan time.Time
		outstanding uint64
		waiting     bool
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-c.quit:
			return
		case p := <-c.pingIn:
			pong := &Pong{Nonce: p.Nonce}
			if p.PongPadding > 0 {
				pong.Padding = make([]byte, p.PongPadding)
			}
			frame, err := EncodeMessage(pong)
			if err != nil || c.writeFrame(context.Background(), frame) != nil {
				return
			}
		case <-tick:
			if waiting {
				continue // PongTimeout < PingInterval, so only after a stall
			}
			outstanding = pingNonce()
			frame, err := EncodeMessage(&Ping{Nonce: outstanding})
			if err != nil || c.writeFrame(context.Background(), frame) != nil {
				return
			}
			c.pingsSent.Add(1)
			waiting = true
			timer = time.NewTimer(c.cfg.PongTimeout)
			pongTimeout = timer.C
		case n := <-c.pongCh:
			if waiting && n == outstanding {
				waiting = false
				timer.Stop()
				pongTimeout = nil
			}
		case <-pongTimeout:
			// The peer looks dead; tell it anyway in case it is only
			// slow, without waiting on it.
			if f, err := EncodeMessage(&Error{Code: CodeTimeout, Text: "pong timeout"}); err == nil {
				_ = c.writeFrame(context.Background(), f)
			}
			c.shutdown(fmt.Errorf("%w: no pong within %v", ErrPongTimeout, c.cfg.PongTimeout))
			return
		}
	}
}

// StreamDialer opens a stream to a peer's address (tor.Transport does).
type StreamDialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// DialPeer opens a stream to addr and completes the handshake with
// local, sending pipelined right behind it; on failure the stream is
// closed. peer names the other side in errors ("dial maker: …",
// "handshake with maker: …").
func DialPeer(ctx context.Context, d StreamDialer, addr string, cfg ConnConfig, local *Hello, peer string, pipelined ...Message) (*Conn, error) {
	nc, err := d.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer, err)
	}
	c := NewConn(nc, cfg)
	if _, err := c.HandshakeWith(ctx, local, pipelined...); err != nil {
		c.Close()
		return nil, fmt.Errorf("handshake with %s: %w", peer, err)
	}
	return c, nil
}
