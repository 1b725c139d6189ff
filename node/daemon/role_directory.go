package daemon

import (
	"context"
	"path/filepath"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

func init() {
	roleFactories[RoleDirectory] = func() Role { return &directoryRole{} }
}

// ProtocolNetwork maps --network to the handshake's network.
func ProtocolNetwork(network string) protocol.Network {
	switch network {
	case "mainnet":
		return protocol.Mainnet
	case "testnet":
		return protocol.Testnet
	case "signet":
		return protocol.Signet
	default:
		return protocol.Regtest
	}
}

// BondPolicy is the bond acceptance policy of directories and takers.
// Every network uses the defaults (script.DefaultBondParams); regtest ones
// too, because the demo and the tests create real bonds that satisfy them.
func (c *Config) BondPolicy() script.BondParams { return script.DefaultBondParams() }

// directoryRole runs node/directory's Server.
type directoryRole struct {
	control.Unimplemented
	srv *directory.Server
}

func (r *directoryRole) Start(ctx context.Context, env *Env) error {
	srv, err := directory.NewServer(directory.ServerConfig{
		Transport: env.Transport,
		DBPath:    filepath.Join(env.Cfg.DataDir, DirectoryDBName),
		Network:   ProtocolNetwork(env.Cfg.Network),
		Backend:   env.Backend,
		Policy:    env.Cfg.BondPolicy(),
		Logger:    env.Logs.For("directory"),
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	r.srv = srv
	return nil
}

func (r *directoryRole) Ready() bool { return r.srv != nil && r.srv.Addr() != "" }

func (r *directoryRole) Stop() {
	if r.srv != nil {
		r.srv.Stop()
	}
}

func (r *directoryRole) DirectoryEntries(ctx context.Context) ([]control.DirectoryEntry, error) {
	es, err := r.srv.Entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]control.DirectoryEntry, 0, len(es))
	for _, e := range es {
		out = append(out, control.DirectoryEntry{
			Onion:      e.Addr,
			BondOutPt:  e.Proof.BondOutPoint.String(),
			BondAmount: e.Proof.BondValue,
			BondValue:  e.BondValue,
			Registered: e.LastSeen,
			Expires:    e.LastSeen.Add(directory.EntryTTL),
		})
	}
	return out, nil
}
