package daemon

import (
	"context"
	"path/filepath"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
)

// The message pool runs on every maker and taker node (issue 11), behind
// the node's one onion service: registered here rather than in
// services.go so that the pool is one file of the daemon.
func init() {
	for _, role := range []string{RoleMaker, RoleTaker} {
		serviceFactories[role] = append(serviceFactories[role], newPool)
	}
}

// poolDisabled is a placeholder service for a node configured without a
// pool: nothing runs, and status says so.
type poolDisabled struct{}

func (poolDisabled) Name() string                                { return "pool" }
func (poolDisabled) Start(context.Context) error                 { return nil }
func (poolDisabled) Stop()                                       {}
func (poolDisabled) Readiness(context.Context) service.Readiness { return service.ReadyNow }

func newPool(env *Env) (service.Service, error) {
	pc := env.Cfg.Pool
	if pc.Disabled {
		return poolDisabled{}, nil
	}
	// A maker's offers are signed by its long-lived pool identity (the key
	// stored in pool.db); a taker signs with a key new at every start, as
	// its onion address is, so that its pool presence does not link one
	// run to the next.
	var identity *btcec.PrivateKey
	if env.Cfg.Role == RoleTaker {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		identity = k
	}
	seeds, err := poolSeeds(env)
	if err != nil {
		return nil, err
	}
	return pool.New(pool.Config{
		Identity:        identity,
		Network:         ProtocolNetwork(env.Cfg.Network),
		ListenAddr:      env.Onion,
		Dialer:          env.Transport,
		Bootstrap:       pc.Bootstrap,
		Seeds:           seeds,
		Topics:          poolTopics(env.Cfg.Network),
		DBPath:          filepath.Join(env.Cfg.DataDir, PoolDBName),
		Outbound:        pc.Outbound,
		MaxPeers:        pc.MaxPeers,
		TrickleOutbound: pc.TrickleOutbound,
		TrickleInbound:  pc.TrickleInbound,
		Logger:          env.Logs.For("pool"),
	})
}

// poolTopics: the marketplace's offers everywhere, and on regtest the
// test topic the control API publishes on (tests and operators trying the
// pool), which thus never exists on a real network.
func poolTopics(network string) []pool.Topic {
	ts := []pool.Topic{{Name: pool.TopicOffer}}
	if network == "regtest" {
		ts = append(ts, pool.Topic{Name: pool.TopicTest})
	}
	return ts
}

// poolSeeds asks the configured directories for pool peers: makers run
// their pool on the onion address they register, so a directory's list
// (each bond verified on our own node) is a sample of pool peers, as
// Bitcoin's DNS seeds and Bisq's seed nodes hand out. nil without
// directories.
func poolSeeds(env *Env) (func(context.Context) ([]string, error), error) {
	if len(env.Cfg.Directories) == 0 {
		return nil, nil
	}
	src, err := directory.NewSource(directorySourceConfig(env, env.Cfg.Directories))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]string, error) {
		cs, err := src.Candidates(ctx)
		if err != nil {
			return nil, err
		}
		addrs := make([]string, 0, len(cs))
		for _, c := range cs {
			if c.Addr != env.Onion {
				addrs = append(addrs, c.Addr)
			}
		}
		return addrs, nil
	}, nil
}
