package tor

import (
	"context"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/internal/backoff"
)

const (
	// pingTimeout bounds the periodic GETINFO version (or HealthInterval,
	// if shorter); tor answers in milliseconds, so 10 s means hung.
	pingTimeout = 10 * time.Second
	// recoverBackoffMin/Max space out attempts to restart or reconnect:
	// an attached system tor being restarted by systemd is back within a
	// few seconds; a tor that cannot start should not be hammered.
	recoverBackoffMin = 1 * time.Second
	recoverBackoffMax = 60 * time.Second
)

// healthLoop watches the session: its death is seen at once (event
// connection EOF, process exit), a hung tor by the periodic ping. Then
// the session is replaced: a managed tor is restarted (same DataDir), an
// attached one reconnected, and the onion services re-added with the same
// keys (the node's own and the authorized ones, with their client auth),
// so peers find us again at the same address. Ephemeral services
// are not re-added: they are lost (loseEphemeral). No polling besides the
// ticker: the loop sleeps in select.
func (t *TorTransport) healthLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.HealthInterval)
	defer tick.Stop()
	for {
		t.mu.Lock()
		s := t.sess
		t.mu.Unlock()
		if s == nil || t.life.Err() != nil {
			return
		}
		var why error
		select {
		case <-t.life.Done():
			return
		case <-s.dead:
			why = s.deadWhy
		case <-tick.C:
			ctx, cancel := context.WithTimeout(t.life, min(pingTimeout, t.cfg.HealthInterval))
			why = s.ping(ctx)
			cancel()
			if why == nil {
				continue
			}
		}
		if t.life.Err() != nil {
			return
		}
		t.log.Warn("tor lost; recovering", "mode", t.cfg.Mode, "reason", why)
		t.recover(s)
	}
}

// recover replaces a dead session, retrying with backoff until it works
// or the transport is closed.
func (t *TorTransport) recover(old *session) {
	t.setSession(nil)
	old.close()
	t.loseEphemeral(old)
	retry := backoff.Backoff{Min: recoverBackoffMin, Max: recoverBackoffMax}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		s, err := t.connect(t.life)
		if err == nil {
			t.mu.Lock()
			if t.closed {
				t.mu.Unlock()
				s.close()
				return
			}
			t.sess = s
			close(t.ready)
			t.restarts++
			ls := t.persistent()
			t.mu.Unlock()
			t.log.Info("tor recovered", "mode", t.cfg.Mode, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			for _, l := range ls {
				if err := t.publish(t.life, s, l); err != nil {
					t.log.Warn("re-adding onion service failed; will recover again", "authorized", l.Authorized(), "err", err)
					s.markDead(err)
					break
				}
			}
			return
		}
		if t.life.Err() != nil {
			return
		}
		wait := retry.Next()
		t.log.Warn("tor recovery failed; retrying", "attempt", attempt, "err", err, "retry_in", wait)
		select {
		case <-t.life.Done():
			return
		case <-time.After(wait):
		}
	}
}

// loseEphemeral fails the ephemeral services added on the dead session
// old: tor dropped them with it, and re-adding one would either move a
// round's contact point or republish it after the round gave up on it.
// old is dead (closed) already, so an ADD_ONION still being sent on it
// fails and no ephemeral service of old is missed here.
func (t *TorTransport) loseEphemeral(old *session) {
	t.mu.Lock()
	var lost []*OnionListener
	for l := range t.eph {
		if l.sess == old {
			lost = append(lost, l)
		}
	}
	t.mu.Unlock()
	why := old.deadWhy
	if why == nil {
		why = errSessionClosed
	}
	for _, l := range lost {
		l.lose(fmt.Errorf("tor restarted or reconnected (%v)", why))
	}
	if len(lost) > 0 {
		t.log.Warn("ephemeral onion services lost with tor; not re-adding them", "count", len(lost))
	}
}
