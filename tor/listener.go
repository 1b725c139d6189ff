package tor

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
)

const (
	// collisionRetry and collisionAttempts: right after a control
	// connection is lost, tor may still hold its ephemeral service for a
	// moment and refuse the same key ("Onion address collision"); we
	// retry for up to ~10 s.
	collisionRetry    = 500 * time.Millisecond
	collisionAttempts = 20
	// publishSettle bounds the wait, after the first HSDir confirmed our
	// descriptor, for the other uploads of the batch. Uploads to the
	// private network's HSDirs finish within ~100 ms of each other; on the
	// public network a slow HSDir must not hold publication back: one
	// copy is usually enough for clients.
	publishSettle = 5 * time.Second
)

// OnionListener is the node's onion service. Its local TCP listener is
// ours and outlives tor restarts: after a restart the service is re-added
// with the same key, so inbound streams resume at the same address.
type OnionListener struct {
	t     *TorTransport
	key   *OnionKey
	addr  OnionAddr
	local net.Listener

	mu      sync.Mutex
	pubDone chan struct{} // closed when the pending publication has an outcome
	pubErr  error
	closed  bool
}

func newOnionListener(t *TorTransport, key *OnionKey, port int, local net.Listener) *OnionListener {
	return &OnionListener{t: t, key: key, local: local, pubDone: make(chan struct{}),
		addr: OnionAddr{ServiceID: key.ServiceID(), Port: port}}
}

// Accept returns the next inbound stream. Its RemoteAddr is tor's local
// end: onion services do not learn who connects.
func (l *OnionListener) Accept() (net.Conn, error) { return l.local.Accept() }

// Addr is the dialable onion address.
func (l *OnionListener) Addr() net.Addr { return l.addr }

// WaitPublished waits until tor reports our descriptor uploaded to an
// HSDir (peers can then find us), PublishTimeout passed (ErrPublishTimeout;
// tor keeps trying), or ctx ends.
func (l *OnionListener) WaitPublished(ctx context.Context) error {
	l.mu.Lock()
	done := l.pubDone
	l.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.pubErr
	}
}

// pending starts a publication round, unless one is already pending (a
// tor restart before the outcome: waiters keep waiting for the new one).
func (l *OnionListener) pending() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.pubDone:
		l.pubDone, l.pubErr = make(chan struct{}), nil
	default:
	}
}

// outcome settles the pending round; a later outcome (a late upload after
// a timeout) starts and settles a new one.
func (l *OnionListener) outcome(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed && err != ErrClosed {
		return // a closed listener stays closed for its waiters
	}
	select {
	case <-l.pubDone:
		l.pubDone = make(chan struct{})
	default:
	}
	l.pubErr = err
	close(l.pubDone)
}

// Close removes the service from tor and closes the local listener.
func (l *OnionListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.t.mu.Lock()
	if l.t.lis == l {
		l.t.lis = nil
	}
	s := l.t.sess
	l.t.mu.Unlock()
	if s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), haltTimeout)
		_ = s.cmd(ctx, func(c *control.Conn) error { return c.DelOnion(l.addr.ServiceID) })
		cancel()
	}
	l.outcome(ErrClosed)
	return l.local.Close()
}

// publish adds l's service to session s and follows the upload in the
// background.
func (t *TorTransport) publish(ctx context.Context, s *session, l *OnionListener) error {
	id := l.addr.ServiceID
	w := s.ev.watchHS(id)
	l.pending()
	var err error
	for i := 0; i < collisionAttempts; i++ {
		err = s.cmd(ctx, func(c *control.Conn) error {
			_, pow, err := addOnion(ctx, s.bt, l.key.kp, l.addr.Port, l.local, t.cfg.PoWDefense)
			if err == nil {
				t.setPoW(pow, t.cfg.PoWDefense)
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "collision") {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(collisionRetry):
		}
	}
	if err != nil {
		s.ev.unwatchHS(id, w)
		return err
	}
	t.wg.Add(1)
	go t.awaitUpload(s, l, w)
	return nil
}

// awaitUpload reports the publication outcome. After a timeout it keeps
// waiting (tor retries uploads) and reports a late success too. It ends
// with the session or the transport.
func (t *TorTransport) awaitUpload(s *session, l *OnionListener, w *hsWatch) {
	defer t.wg.Done()
	defer s.ev.unwatchHS(l.addr.ServiceID, w)
	start := time.Now()
	timeout := time.NewTimer(t.cfg.PublishTimeout)
	defer timeout.Stop()
	uploaded := w.uploaded
	var settle <-chan time.Time
	for {
		select {
		case <-uploaded:
			uploaded = nil // wait for the rest of the batch, briefly
			st := time.NewTimer(publishSettle)
			defer st.Stop()
			settle = st.C
		case <-settle:
			t.log.Debug("not every descriptor upload confirmed; publishing anyway", "uploads", s.ev.uploadSummary(w))
			l.outcome(nil)
			return
		case <-w.settled:
			t.log.Info("onion service published", "addr", l.addr.String(), "after", time.Since(start).Round(time.Millisecond),
				"uploads", s.ev.uploadSummary(w))
			l.outcome(nil)
			return
		case <-timeout.C:
			err := fmt.Errorf("%w after %v (%s)", ErrPublishTimeout, t.cfg.PublishTimeout, s.ev.uploadSummary(w))
			t.log.Warn("onion service not published yet; tor keeps trying", "err", err)
			l.outcome(err)
		case <-s.dead:
			return // the health loop re-publishes on the next session
		case <-t.life.Done():
			l.outcome(ErrClosed)
			return
		}
	}
}
