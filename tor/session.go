package tor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	bine "github.com/cretz/bine/tor"
)

var noDeadline time.Time

func deadlineIn(d time.Duration) time.Time { return time.Now().Add(d) }

// session is one live connection to one tor: a process we started
// (managed) or a running daemon (attach). When it dies (tor exited, a
// connection broke, a command timed out) dead is closed and the health
// loop replaces the whole session.
type session struct {
	log   *slog.Logger
	bt    *bine.Tor // bine handle; bt.Control is our command connection
	raw   net.Conn  // the net.Conn under bt.Control
	cmdMu sync.Mutex
	ev    *eventConn
	proc  *torProcess // managed mode only
	socks string      // tor's SOCKS listener, host:port

	dead     chan struct{}
	deadOnce sync.Once
	deadWhy  error

	closeOnce sync.Once
}

func newSession(log *slog.Logger, bt *bine.Tor, raw net.Conn, ev *eventConn, proc *torProcess) *session {
	s := &session{log: log, bt: bt, raw: raw, ev: ev, proc: proc, dead: make(chan struct{})}
	go s.watch()
	return s
}

// watch turns the end of the event connection or of the process into dead.
func (s *session) watch() {
	var procDone <-chan struct{}
	if s.proc != nil {
		procDone = s.proc.done
	}
	select {
	case <-s.ev.done:
		s.markDead(s.ev.err)
	case <-procDone:
		s.markDead(fmt.Errorf("tor process exited: %w", s.proc.exitErr()))
	case <-s.dead:
	}
}

func (s *session) markDead(why error) {
	s.deadOnce.Do(func() {
		s.deadWhy = why
		close(s.dead)
	})
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// cmd runs f on the command connection with a deadline (the earlier of
// ctx's and controlTimeout) that also trips when ctx is cancelled. A
// failure of the connection itself (timeout, EOF) kills the session: the
// reply stream is then out of step and cannot be trusted.
func (s *session) cmd(ctx context.Context, f func(c *control.Conn) error) error {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if s.isDead() {
		return fmt.Errorf("%w: %w", ErrTorUnavailable, s.deadWhy)
	}
	dl := deadlineIn(controlTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = s.raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = s.raw.SetDeadline(time.Unix(1, 0)) })
	err := f(s.bt.Control)
	stop()
	_ = s.raw.SetDeadline(noDeadline)
	var ne net.Error
	if err != nil && (errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || isEOF(err)) {
		s.markDead(fmt.Errorf("control command failed: %w", err))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// ping checks that tor answers on the command connection.
func (s *session) ping(ctx context.Context) error {
	return s.cmd(ctx, func(c *control.Conn) error {
		_, err := getInfo(c, "version")
		return err
	})
}

// close ends the session: a managed tor is halted (and killed if it does
// not exit), an attached tor only loses our connections, which removes
// our ephemeral onion service from it.
func (s *session) close() {
	s.closeOnce.Do(func() {
		halted := false
		if s.proc != nil && !s.isDead() {
			ctx, cancel := context.WithTimeout(context.Background(), haltTimeout)
			halted = s.cmd(ctx, func(c *control.Conn) error { return c.Signal("HALT") }) == nil
			cancel()
		}
		s.markDead(errSessionClosed)
		s.raw.Close()
		s.ev.close()
		if s.proc != nil {
			s.proc.stop(halted)
		}
	})
}

// haltTimeout bounds SIGNAL HALT; tor answers at once, then exits.
const haltTimeout = 2 * time.Second

var errSessionClosed = errors.New("session closed")
