package daemon

import (
	"context"
	"path/filepath"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
)

// disabled is a placeholder service for one the node is configured
// without: nothing runs, and status lists it.
type disabled string

func (d disabled) Name() string                              { return string(d) }
func (disabled) Start(context.Context) error                 { return nil }
func (disabled) Stop()                                       {}
func (disabled) Readiness(context.Context) service.Readiness { return service.ReadyNow }

// newPool: the message pool of every maker and taker node (issue 11),
// behind the node's one onion service, relaying the market's offers
// (checked by market.Validator on our own chain backend).
func newPool(env *Env) (service.Service, error) {
	pc := env.Cfg.Pool
	if pc.Disabled {
		return disabled("pool"), nil
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
	// Block headers from memory: a join sync checks every offer's bond.
	offers := market.NewValidator(market.CachedChain(env.Backend), env.Cfg.BondPolicy(), nil)
	offers.UseBlacklist(env.Blacklist())
	p, err := pool.New(pool.Config{
		Identity:        identity,
		Network:         ProtocolNetwork(env.Cfg.Network),
		ListenAddr:      env.Onion,
		Dialer:          env.Transport,
		Bootstrap:       pc.Bootstrap,
		Seeds:           seeds,
		Topics:          poolTopics(env.Cfg.Network, offers),
		DBPath:          filepath.Join(env.Cfg.DataDir, PoolDBName),
		Outbound:        pc.Outbound,
		MaxPeers:        pc.MaxPeers,
		TrickleOutbound: pc.TrickleOutbound,
		TrickleInbound:  pc.TrickleInbound,
		Logger:          env.Logs.For("pool"),
	})
	if err != nil {
		return nil, err
	}
	env.pool, env.offers = p, offers
	return p, nil
}

// poolTopics: the marketplace's offers, the chat's mailbox and the
// CoinJoin's announcements everywhere (every pool node relays them), and on regtest the
// test topic the control API publishes on (tests and operators trying the
// pool), which thus never exists on a real network.
func poolTopics(network string, offers *market.Validator) []pool.Topic {
	ts := []pool.Topic{offers.Topic(), chat.MailTopic(ProtocolNetwork(network)), coinjoin.AnnounceTopic(ProtocolNetwork(network))}
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
