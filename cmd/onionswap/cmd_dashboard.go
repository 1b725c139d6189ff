package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/node/dashboard"
)

func init() {
	register(infoCommand("dashboard url", "print the web dashboard's address and how to log in",
		`Print the address of the web dashboard of the node running on --datadir
and how to log in: with the control cookie (the line in
DATADIR/control.cookie, new at each start of the node) or with the
password set by dashboard password.

The dashboard listens on 127.0.0.1 only (--dashboard). From another
machine, reach it through an SSH tunnel (ssh -L 8720:127.0.0.1:8720 pi)
or, with --dashboard-onion, through its own onion service with the
client key in DATADIR/dashboard.auth_private.`,
		func(c *control.Client, ctx context.Context) (dashboardInfo, error) {
			st, err := c.Status(ctx)
			if err != nil {
				return dashboardInfo{}, err
			}
			if st.Dashboard == "" {
				return dashboardInfo{}, errors.New("the node runs no dashboard (--dashboard off)")
			}
			_, perr := os.Stat(dashboard.PasswordPath(c.DataDir()))
			return dashboardInfo{URL: st.Dashboard, Onion: st.DashboardOnion, PasswordSet: perr == nil}, nil
		},
		func(e *env, d dashboardInfo) error {
			fmt.Fprintln(e.stdout, d.URL)
			if d.Onion != "" {
				fmt.Fprintf(e.stdout, "%s (with the client key in %s)\n", d.Onion, filepath.Join(e.cfg.DataDir, daemon.DashboardAuthPrivate))
			}
			fmt.Fprintf(e.stdout, "log in with the control cookie in %s", control.CookiePath(e.cfg.DataDir))
			if d.PasswordSet {
				fmt.Fprint(e.stdout, " or the dashboard password")
			}
			_, err := fmt.Fprintln(e.stdout)
			return err
		}))
	register(&command{
		path:    "dashboard password",
		summary: "set (or remove) the web dashboard's password",
		help: `Set the password the web dashboard accepts besides the control cookie.
On a terminal it is typed twice without echo; otherwise it is the first
line of stdin. It needs at least 10 characters. Only its argon2id hash is
stored, in DATADIR/dashboard.password (mode 0600); a running node uses it
at the next login. With --remove, only the cookie logs in again.`,
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			remove := e.fs.Bool("remove", false, "remove the password")
			return func(ctx context.Context) error {
				if err := dataDirMissing(e.cfg.DataDir); err != nil {
					return err
				}
				path := dashboard.PasswordPath(e.cfg.DataDir)
				if *remove {
					if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
					fmt.Fprintln(e.stdout, "dashboard password removed")
					return nil
				}
				pw, err := newDashboardPassword(ctx, e)
				if err != nil {
					return err
				}
				if err := dashboard.SetPassword(path, pw); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, "dashboard password set")
				return nil
			}
		},
	})
}

// dashboardInfo is what dashboard url prints.
type dashboardInfo struct {
	URL         string `json:"url"`
	Onion       string `json:"onion"`
	PasswordSet bool   `json:"password_set"`
}

// newDashboardPassword reads the new password: typed twice on a
// terminal, else stdin's first line.
func newDashboardPassword(ctx context.Context, e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		p1, err := readPassword(ctx, f, e.stderr, "New dashboard password: ")
		if err != nil {
			return "", err
		}
		p2, err := readPassword(ctx, f, e.stderr, "The same password again: ")
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("the two passwords differ: nothing was changed")
		}
		return p1, nil
	}
	return readLine(ctx, e.stdin)
}
