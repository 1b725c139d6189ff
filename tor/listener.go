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

// OnionListener is an onion service of the transport: the node's own
// (Listen), a round's ephemeral one (ListenEphemeral) or one restricted
// to authorized clients (ListenAuthorized). Its local TCP listener is
// ours and outlives tor restarts. After a restart the node's service and
// the authorized ones are re-added with the same keys (and client auth),
// so inbound streams resume at the same address; an ephemeral service is
// not re-added: it is lost, and its Accept fails with ErrOnionLost.
type OnionListener struct {
	t         *TorTransport
	key       *OnionKey
	addr      OnionAddr
	local     net.Listener
	ephemeral bool
	// clientAuth: the authorized clients' keys (ListenAuthorized only),
	// given to tor at every ADD_ONION of the service.
	clientAuth []ClientAuthKey

	mu      sync.Mutex
	pubDone chan struct{} // closed when the pending publication has an outcome
	pubErr  error
	closed  bool
	// ephemeral only: sess is the session the service was added on (under
	// t.mu), lost why it is gone with that session (under mu).
	sess *session
	lost error
}

func newOnionListener(t *TorTransport, key *OnionKey, port int, local net.Listener) *OnionListener {
	return &OnionListener{t: t, key: key, local: local, pubDone: make(chan struct{}),
		addr: OnionAddr{ServiceID: key.ServiceID(), Port: port}}
}

// Accept returns the next inbound stream. Its RemoteAddr is tor's local
// end: onion services do not learn who connects. On an ephemeral listener
// whose service was lost with its tor (see ListenEphemeral) it fails with
// an error wrapping ErrOnionLost.
func (l *OnionListener) Accept() (net.Conn, error) {
	c, err := l.local.Accept()
	if err != nil {
		l.mu.Lock()
		lost := l.lost
		l.mu.Unlock()
		if lost != nil {
			return nil, lost
		}
	}
	return c, err
}

// Addr is the dialable onion address.
func (l *OnionListener) Addr() net.Addr { return l.addr }

// Ephemeral reports whether l is a per-round service of ListenEphemeral.
func (l *OnionListener) Ephemeral() bool { return l.ephemeral }

// Authorized reports whether l is a service of ListenAuthorized, which
// only clients holding an authorized key can reach.
func (l *OnionListener) Authorized() bool { return len(l.clientAuth) > 0 }

// lose marks an ephemeral service gone with its session: waiters of
// WaitPublished and Accept get an error wrapping ErrOnionLost.
func (l *OnionListener) lose(why error) {
	err := fmt.Errorf("%w: %w", ErrOnionLost, why)
	l.mu.Lock()
	if l.closed || l.lost != nil {
		l.mu.Unlock()
		return
	}
	l.lost = err
	l.mu.Unlock()
	l.outcome(err)
	_ = l.local.Close()
}

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

// Close removes the service from tor (DEL_ONION) and closes the local
// listener. Idempotent.
func (l *OnionListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	lost := l.lost != nil
	l.mu.Unlock()
	l.t.mu.Lock()
	if l.t.lis == l {
		l.t.lis = nil
	}
	delete(l.t.eph, l)
	delete(l.t.authz, l)
	s := l.t.sess
	if l.ephemeral && l.sess != s {
		s = nil // added on a session that is gone, and the service with it
	}
	l.t.mu.Unlock()
	if s != nil && !lost {
		ctx, cancel := context.WithTimeout(context.Background(), haltTimeout)
		_ = s.cmd(ctx, func(c *control.Conn) error { return c.DelOnion(l.addr.ServiceID) })
		cancel()
	}
	l.outcome(ErrClosed)
	err := l.local.Close()
	if lost {
		return nil // closed already by lose
	}
	return err
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
			_, pow, err := addOnion(ctx, s.bt, l.key.kp, l.addr.Port, l.local, t.cfg.PoWDefense, l.clientAuth)
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
			t.logService(l, "onion service published", "after", time.Since(start).Round(time.Millisecond),
				"uploads", s.ev.uploadSummary(w))
			l.outcome(nil)
			return
		case <-timeout.C:
			err := fmt.Errorf("%w after %v (%s)", ErrPublishTimeout, t.cfg.PublishTimeout, s.ev.uploadSummary(w))
			t.log.Warn("onion service not published yet; tor keeps trying", "ephemeral", l.ephemeral, "err", err)
			l.outcome(err)
		case <-s.dead:
			// The health loop re-publishes the node's service on the next
			// session; an ephemeral one is lost (recover calls lose).
			return
		case <-t.life.Done():
			l.outcome(ErrClosed)
			return
		}
	}
}

// logService logs msg with l's address: at Info for the node's own
// service, at Debug only for an ephemeral one, whose address in the
// operator's logs would link the round to the node.
func (t *TorTransport) logService(l *OnionListener, msg string, args ...any) {
	if l.ephemeral {
		t.log.Debug(msg, append([]any{"ephemeral", true, "addr", l.addr.String()}, args...)...)
		return
	}
	if l.Authorized() {
		args = append([]any{"authorized_clients", len(l.clientAuth)}, args...)
	}
	t.log.Info(msg, append([]any{"addr", l.addr.String()}, args...)...)
}
