package daemon

import (
	"context"

	"path/filepath"

	"github.com/btcsuite/btcd/btcec/v2"
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
	offers := market.NewValidator(env.Backend, env.Cfg.BondPolicy(), nil)
	p, err := pool.New(pool.Config{
		Identity:        identity,
		Network:         ProtocolNetwork(env.Cfg.Network),
		ListenAddr:      env.Onion,
		Dialer:          env.Transport,
		Bootstrap:       pc.Bootstrap,
		DBPath:          filepath.Join(env.Cfg.DataDir, PoolDBName),
		Outbound:        pc.Outbound,
		MaxPeers:        pc.MaxPeers,
		TrickleOutbound: pc.TrickleOutbound,
		TrickleInbound:  pc.TrickleInbound,
		Topics:          []pool.Topic{offers.Topic()},
		Logger:          env.Logs.For("pool"),
	})
	if err != nil {
		return nil, err
	}
	env.pool, env.offers = p, offers
	return p, nil
}
