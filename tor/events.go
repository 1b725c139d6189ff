package tor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/cretz/bine/control"
)

// eventConn is a control connection used only to receive asynchronous
// events (bootstrap progress, descriptor uploads), read by one goroutine.
// Its end (EOF) is also how the death of tor is noticed at once.
type eventConn struct {
	conn *control.Conn
	raw  net.Conn
	done chan struct{} // closed when the read loop ends
	err  error         // why it ended, valid after done

	mu     sync.Mutex
	boot   BootstrapStatus
	bootCh chan struct{} // closed and replaced on every bootstrap change
	hs     map[string]*hsWatch
}

// hsWatch follows the descriptor uploads of one onion service. Tor
// starts the uploads to every responsible HSDir at once (one HS_DESC
// UPLOAD each), so once one is UPLOADED, the batch is complete when every
// attempt is UPLOADED or FAILED. Only then can a client asking any HSDir
// find us: a client asking an HSDir still receiving the upload gets "not
// found" (seen on this machine under load).
type hsWatch struct {
	uploaded chan struct{} // closed on the first HS_DESC UPLOADED
	settled  chan struct{} // closed when, after that, every attempt settled
	attempts int
	okCount  int
	failures []string
}

// newEventConn opens the event connection, subscribes, reads the current
// bootstrap state (so nothing between subscription and the loop is lost)
// and starts the read loop.
func newEventConn(ctx context.Context, addr, password string) (*eventConn, error) {
	conn, raw, err := dialControl(ctx, addr, password)
	if err != nil {
		return nil, err
	}
	e := &eventConn{conn: conn, raw: raw, done: make(chan struct{}), bootCh: make(chan struct{}), hs: map[string]*hsWatch{}}
	if err := e.setup(); err != nil {
		raw.Close()
		return nil, err
	}
	go e.readLoop()
	return e, nil
}

func (e *eventConn) setup() error {
	_ = e.raw.SetDeadline(deadlineIn(controlTimeout))
	defer e.raw.SetDeadline(noDeadline)
	if _, err := e.conn.SendRequest("SETEVENTS %s %s", control.EventCodeStatusClient, control.EventCodeHSDesc); err != nil {
		return controlErr("SETEVENTS", err)
	}
	v, err := getInfo(e.conn, "status/bootstrap-phase")
	if err != nil {
		return err
	}
	e.onStatus(parseStatus(v))
	return nil
}

func (e *eventConn) readLoop() {
	defer close(e.done)
	for {
		resp, err := e.conn.ReadResponse()
		if err != nil {
			e.err = fmt.Errorf("tor control connection lost: %w", err)
			return
		}
		if !resp.IsAsync() {
			continue // nothing is ever asked on this connection after setup
		}
		switch ev := parseEvent(resp).(type) {
		case *control.StatusEvent:
			e.onStatus(parseStatus(ev.Raw))
		case *control.HSDescEvent:
			e.onHSDesc(ev)
		}
	}
}

func (e *eventConn) onStatus(ev statusEvent) {
	if ev.action != "BOOTSTRAP" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.boot
	if p, err := strconv.Atoi(ev.args["PROGRESS"]); err == nil {
		b.Progress = p
	}
	b.Tag, b.Summary = ev.args["TAG"], ev.args["SUMMARY"]
	if w := ev.args["WARNING"]; w != "" {
		b.Warning = w
	}
	if b != e.boot {
		e.boot = b
		close(e.bootCh)
		e.bootCh = make(chan struct{})
	}
}

func (e *eventConn) onHSDesc(ev *control.HSDescEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.hs[ev.Address]
	if w == nil {
		return
	}
	switch ev.Action {
	case "UPLOAD":
		w.attempts++
	case "FAILED":
		w.failures = append(w.failures, fmt.Sprintf("%s: %s", ev.HSDir, ev.Reason))
	case "UPLOADED":
		w.okCount++
		closeOnce(w.uploaded)
	}
	if w.okCount > 0 && w.okCount+len(w.failures) >= w.attempts {
		closeOnce(w.settled)
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// watchHS starts following uploads for serviceID; register before ADD_ONION.
func (e *eventConn) watchHS(serviceID string) *hsWatch {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := &hsWatch{uploaded: make(chan struct{}), settled: make(chan struct{})}
	e.hs[serviceID] = w
	return w
}

func (e *eventConn) unwatchHS(serviceID string, w *hsWatch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hs[serviceID] == w {
		delete(e.hs, serviceID)
	}
}

// uploadSummary describes the upload attempts seen, for error messages.
func (e *eventConn) uploadSummary(w *hsWatch) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d uploads attempted, %d done, %d failed %v", w.attempts, w.okCount, len(w.failures), w.failures)
}

func (e *eventConn) bootstrap() (BootstrapStatus, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.boot, e.bootCh
}

// waitBootstrap waits for 100 %, reporting each change to report.
func (e *eventConn) waitBootstrap(ctx context.Context, report func(BootstrapStatus)) error {
	var last BootstrapStatus
	for first := true; ; first = false {
		b, changed := e.bootstrap()
		if first || b != last {
			report(b)
			last = b
		}
		if b.Progress >= 100 {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: stuck at %s", ErrBootstrapTimeout, b)
			}
			return ctx.Err()
		case <-e.done:
			return fmt.Errorf("%w while bootstrapping (at %s): %w", ErrTorUnavailable, b, e.err)
		case <-changed:
		}
	}
}

func (e *eventConn) close() {
	e.raw.Close()
	<-e.done
}
