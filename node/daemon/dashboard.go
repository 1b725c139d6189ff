package daemon

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/onionswap/onionswap/internal/securefile"
	"github.com/onionswap/onionswap/node/dashboard"
	"github.com/onionswap/onionswap/tor"
)

// Files of the dashboard's onion service in the data directory.
const (
	// dashboardOnionKey: the service's ed25519 key (its address stays
	// across restarts).
	dashboardOnionKey = "dashboard_onion_key"
	// dashboardClientKey: the one authorized client's x25519 key pair.
	dashboardClientKey = "dashboard_client.key"
	// DashboardAuthPrivate: the line the operator gives its Tor Browser
	// (or its tor's ClientOnionAuthDir) to reach the service.
	DashboardAuthPrivate = "dashboard.auth_private"
)

// startDashboard serves the web dashboard on its local address, as soon
// as the control API runs (its status page shows the rest of the start).
// Not for a command's in-process node, which has no cookie to log in
// with.
func (d *Daemon) startDashboard() error {
	if d.opts.NoControlSocket || d.cfg.Dashboard.Listen == DashboardOff {
		return nil
	}
	ds, err := dashboard.New(dashboard.Config{Listen: d.cfg.Dashboard.Listen, API: d.router, Cookie: d.ctrl.Cookie,
		PasswordFile: dashboard.PasswordPath(d.cfg.DataDir), Logger: d.logs.For("dashboard")})
	if err != nil {
		return err
	}
	if err := ds.Start(); err != nil {
		return fmt.Errorf("%w (another address: --dashboard 127.0.0.1:PORT; none: --dashboard off)", err)
	}
	d.mu.Lock()
	d.dash = ds
	d.mu.Unlock()
	return nil
}

// publishDashboard (--dashboard-onion) publishes the dashboard as its own
// onion service, separate from the node's (whose address peers know), and
// restricted by Tor client authorization: without the client key nobody
// can even read its descriptor. The key's line for Tor Browser is written
// to DATADIR/dashboard.auth_private.
func (d *Daemon) publishDashboard(ctx context.Context) error {
	d.mu.Lock()
	ds, tr := d.dash, d.transport
	d.mu.Unlock()
	if ds == nil || tr == nil || !d.cfg.Dashboard.Onion {
		return nil
	}
	pair, created, err := tor.LoadOrCreateClientAuth(filepath.Join(d.cfg.DataDir, dashboardClientKey))
	if err != nil {
		return fmt.Errorf("dashboard onion: %w", err)
	}
	l, err := tr.ListenAuthorized(ctx, tor.AuthorizedService{KeyFile: filepath.Join(d.cfg.DataDir, dashboardOnionKey),
		Port: 80, ClientAuth: []tor.ClientAuthKey{pair.Public()}})
	if err != nil {
		return fmt.Errorf("dashboard onion: %w", err)
	}
	addr := l.Addr().String()
	line, err := pair.AuthPrivateLine(addr)
	if err == nil {
		err = securefile.WriteAtomic(filepath.Join(d.cfg.DataDir, DashboardAuthPrivate), []byte(line+"\n"), 0o600)
	}
	if err == nil {
		err = ds.ServeOnion(l, addr)
	}
	if err != nil {
		l.Close()
		return fmt.Errorf("dashboard onion: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	d.mu.Lock()
	d.dashOnion = "http://" + host + "/"
	d.mu.Unlock()
	d.log.Info("dashboard published as an onion service; its client key is in "+DashboardAuthPrivate, "new_client_key", created)
	d.log.Debug("dashboard onion", "addr", addr)
	return nil
}
