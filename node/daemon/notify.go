package daemon

import (
	"context"
	"net"
	"os"
	"time"
)

// systemd's notification protocol (sd_notify(3)), written by hand: one
// datagram to $NOTIFY_SOCKET, no new dependency. Under `Type=notify` the
// unit is "started" at READY=1, which we send once every service has
// started (a maker whose bond waits for funds is started: waiting is its
// job, and systemd would otherwise kill it at TimeoutStartSec). What still
// blocks full readiness shows in `systemctl status` through STATUS=.

// statusInterval: how often STATUS= is refreshed when it changed. A
// readiness change (a confirmation, a directory's ack) matters to a human
// within seconds, not milliseconds.
const statusInterval = 5 * time.Second

// sdNotify sends state to systemd; without $NOTIFY_SOCKET (not started
// by systemd) it does nothing.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

// notifyLoop says READY=1 once and then keeps STATUS= current until the
// daemon stops.
func (d *Daemon) notifyLoop() {
	defer d.wg.Done()
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	sdNotify("READY=1")
	last := ""
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(d.ctx, statusInterval)
		s := d.Status(ctx)
		cancel()
		msg := "ready"
		if !s.Ready {
			msg = "not ready: " + s.Blocker
		}
		if msg != last {
			sdNotify("STATUS=" + msg)
			last = msg
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}
