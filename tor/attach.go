package tor

import (
	"context"
	"fmt"

	"github.com/cretz/bine/control"
)

// startAttached connects to a running tor (ModeAttach) and waits until it
// is bootstrapped. We never stop or reconfigure a tor we did not start.
func startAttached(ctx context.Context, cfg *Config) (*session, error) {
	conn, raw, err := dialControl(ctx, cfg.ControlAddr, cfg.ControlPassword)
	if err != nil {
		return nil, err
	}
	ev, err := newEventConn(ctx, cfg.ControlAddr, cfg.ControlPassword)
	if err != nil {
		raw.Close()
		return nil, err
	}
	s := newSession(cfg.Logger, attachedTor(conn), raw, ev, nil)
	err = s.cmd(ctx, func(c *control.Conn) error {
		v, err := getInfo(c, "net/listeners/socks")
		if err == nil && v == "" {
			// Tor opens no listener while DisableNetwork is set.
			vals, gerr := c.GetConf("DisableNetwork")
			if gerr == nil && len(vals) == 1 && vals[0].Val == "1" {
				return fmt.Errorf("%w: the tor at %s has DisableNetwork set; enable its network first", ErrControl, cfg.ControlAddr)
			}
		}
		return err
	})
	if err != nil {
		s.close()
		return nil, err
	}
	cfg.Logger.Info("attached to tor", "control", cfg.ControlAddr)
	if err := finishSession(ctx, cfg, s); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// finishSession waits for bootstrap (bounded by BootstrapTimeout) and
// reads tor's SOCKS address. The SOCKS address is asked for, never
// assumed: a managed tor picks a free port ("auto").
func finishSession(ctx context.Context, cfg *Config, s *session) error {
	bctx, cancel := context.WithTimeout(ctx, cfg.BootstrapTimeout)
	defer cancel()
	report := func(b BootstrapStatus) {
		cfg.Logger.Info("tor bootstrap", "progress", b.Progress, "phase", b.Tag, "summary", b.Summary)
		if cfg.OnBootstrap != nil {
			cfg.OnBootstrap(b)
		}
	}
	if err := s.ev.waitBootstrap(bctx, report); err != nil {
		return err
	}
	return s.cmd(ctx, func(c *control.Conn) error {
		v, err := getInfo(c, "net/listeners/socks")
		if err != nil {
			return err
		}
		s.socks, err = firstTCPListener(v)
		return err
	})
}
