package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

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

// FaultPlan parses the configured faults; a "crash-after" fault kills the
// process with SIGKILL right after the phase commit, like a power cut:
// nothing is cleaned up (stale socket, orphaned tor), as after a real crash.
func (c *Config) FaultPlan(log *slog.Logger) (*swap.FaultPlan, error) {
	if len(c.Faults) == 0 {
		return nil, nil
	}
	fp, err := swap.ParseFaultPlan(c.Faults, c.Params())
	if err != nil {
		return nil, fmt.Errorf("%w: --fault: %w", ErrConfig, err)
	}
	fp.SetCrashFunc(func() {
		log.Warn("fault injection: crashing now (SIGKILL)")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns
	})
	return fp, nil
}

// serviceFactories build the services of each role. Adding a service to
// the node is its package plus one line here.
//
// The message pool comes first (the maker's offers and the taker's book
// need it) and the market last (it publishes the maker's offer and is
// stopped first, so its removal goes out while the pool still runs).
var serviceFactories = map[string][]func(env *Env) (service.Service, error){
	RoleDirectory: {newDirectory},
	RoleMaker:     {newPool, newMaker, newMarket, newChat, newCoinJoin},
	RoleTaker:     {newPool, newTaker, newMarket, newChat, newCoinJoin},
}

func newDirectory(env *Env) (service.Service, error) {
	return directory.NewServer(directory.ServerConfig{
		DBPath:  filepath.Join(env.Cfg.DataDir, DirectoryDBName),
		Network: ProtocolNetwork(env.Cfg.Network),
		Backend: env.Backend,
		Policy:  env.Cfg.BondPolicy(),
		Logger:  env.Logs.For("directory"),
	})
}

func newMaker(env *Env) (service.Service, error) {
	log := env.Logs.For("maker")
	fp, err := env.Cfg.FaultPlan(log)
	if err != nil {
		return nil, err
	}
	mc := env.Cfg.Maker
	m, err := maker.New(maker.Config{
		Wallet:           env.Wallet,
		Backend:          env.Backend,
		Network:          ProtocolNetwork(env.Cfg.Network),
		Addr:             env.Onion,
		Directories:      env.Cfg.Directories,
		Dialer:           env.Transport,
		Bondless:         mc.OfferProof == "integrity",
		BondAmount:       btcutil.Amount(mc.BondAmount),
		BondLockBlocks:   mc.BondLockBlocks,
		Terms:            swap.Terms{BaseFee: mc.BaseFee, AmountFeePPB: uint32(mc.AmountFeePPB), TimeFeePPB: uint32(mc.TimeFeePPB)},
		MaxSize:          mc.MaxSize,
		RequiredConfirms: uint32(mc.RequiredConfirms),
		IdleTimeout:      mc.IdleTimeout,
		Faults:           fp,
		Logger:           log,
	})
	env.maker = m
	return m, err
}

// directorySourceConfig lists dirs through the node's tor and verifies
// every listed bond on its own chain backend: how a taker finds makers
// and a pool finds its seed peers.
func directorySourceConfig(env *Env, dirs []string) directory.SourceConfig {
	return directory.SourceConfig{
		Dialer:      env.Transport,
		Directories: dirs,
		Client:      directory.ClientConfig{Network: ProtocolNetwork(env.Cfg.Network), Logger: env.Logs.For("directory")},
		Backend:     env.Backend,
		Policy:      env.Cfg.BondPolicy(),
		Logger:      env.Logs.For("directory"),
	}
}

func newTaker(env *Env) (service.Service, error) {
	log := env.Logs.For("taker")
	fp, err := env.Cfg.FaultPlan(log)
	if err != nil {
		return nil, err
	}
	sourceFor := func(dirs []string) (taker.MakerSource, error) {
		return taker.NewDirectorySource(directorySourceConfig(env, dirs))
	}
	// Makers come from the pool's offer book first, then from the
	// configured directories (bootstrap and fallback).
	var srcs taker.Sources
	var named func(context.Context, []string) (taker.MakerSource, error)
	if env.pool != nil {
		book := market.NewBook(env.pool, env.offers)
		book.UseTrust(env.Trusts()) // weighs each maker's bond by its record
		srcs, named = append(srcs, book), book.Named
	}
	if len(env.Cfg.Directories) > 0 {
		dir, err := sourceFor(env.Cfg.Directories)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, dir)
	}
	var src taker.MakerSource
	if len(srcs) > 0 {
		src = srcs
	}
	ts, err := taker.NewService(taker.ServiceConfig{
		Taker: taker.Config{
			Wallet:            env.Wallet,
			Backend:           env.Backend,
			Transport:         env.Transport,
			Network:           ProtocolNetwork(env.Cfg.Network),
			Source:            src,
			BondPolicy:        env.Cfg.BondPolicy(),
			RequiredConfirms:  uint32(env.Cfg.Taker.RequiredConfirms),
			KeepAliveInterval: env.Cfg.Taker.KeepAliveInterval,
			PollInterval:      env.Cfg.ChainPoll,
			Faults:            fp,
			Logger:            log,
		},
		SourceFor:    sourceFor,
		Named:        named,
		Healthy:      env.Healthy,
		ChainChanges: env.Wallet.ChainChanges,
	})
	env.taker = ts
	return ts, err
}

// newMarket: the blacklist on every maker and taker node; with a pool the
// offer book, and on a maker the publisher of its offer.
func newMarket(env *Env) (service.Service, error) {
	if env.pool == nil {
		s := market.NewService(nil, nil, env.Blacklist())
		s.SetTrust(trustConfig(env))
		return s, nil
	}
	var pub *market.Publisher
	if env.maker != nil {
		var ic *market.IntegrityConfig
		if env.Cfg.Maker.OfferProof == "integrity" {
			level, err := market.ParseIntegrityLevel(cmp.Or(env.Cfg.Maker.IntegrityLevel, "normal"))
			if err != nil {
				return nil, err
			}
			ic = &market.IntegrityConfig{Payer: walletIntegrity{env.Wallet}, Level: level, Addr: env.Onion,
				Tip: func(ctx context.Context) (int32, error) {
					h, _, err := env.Backend.Tip(ctx)
					return h, err
				}}
		}
		pub = market.NewPublisher(market.PublisherConfig{Pool: env.pool, Maker: makerOffers{env.maker, env.Wallet},
			Locks: env.Wallet, Integrity: ic, Logger: env.Logs.For("market")})
		env.maker.SetOrigin(env.pool.Identity()) // what its trust proofs bind
	}
	s := market.NewService(market.NewBook(env.pool, env.offers), pub, env.Blacklist())
	s.SetTrust(trustConfig(env))
	return s, nil
}

// walletIntegrity is the wallet's integrity branch as the offer
// publisher uses it.
type walletIntegrity struct{ w *wallet.Wallet }

func (wi walletIntegrity) LatestIntegrity(ctx context.Context) (*market.IntegrityPayment, error) {
	p, err := wi.w.LatestIntegrityPayment(ctx)
	if errors.Is(err, wallet.ErrNoIntegrityPayment) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return integrityView(p), nil
}

func (wi walletIntegrity) PayIntegrity(ctx context.Context, fee, topUp int64) (*market.IntegrityPayment, error) {
	p, err := wi.w.PayIntegrityFee(ctx, btcutil.Amount(fee), btcutil.Amount(topUp))
	if err != nil {
		return nil, err
	}
	return integrityView(p), nil
}

func (wi walletIntegrity) ProveIntegrity(ctx context.Context, op wire.OutPoint, digest [32]byte) (*protocol.IntegrityProof, error) {
	return wi.w.IntegrityProof(ctx, &wallet.IntegrityPayment{OutPoint: op}, digest) // it reads the outpoint only
}

func integrityView(p *wallet.IntegrityPayment) *market.IntegrityPayment {
	v := &market.IntegrityPayment{OutPoint: p.OutPoint, Fee: int64(p.Fee)}
	if p.Tx != nil {
		v.VSize = script.TxVSize(p.Tx)
	}
	if p.Height > 0 {
		v.Height = uint32(p.Height)
	}
	return v
}

// trustConfig: `market trust` dials through the node's tor and verifies
// on its own backend; `market proofs` on a maker.
func trustConfig(env *Env) market.TrustConfig {
	tc := market.TrustConfig{Dialer: env.Transport, Network: ProtocolNetwork(env.Cfg.Network), Chain: env.Backend,
		Wallet: env.Wallet, Trusts: env.Trusts(), Logger: env.Logs.For("market")}
	if env.maker != nil {
		tc.Prover = env.maker
	}
	return tc
}

// makerOffers is what the offer publisher asks of a maker node: the
// maker's offer, the wallet's bond key.
type makerOffers struct {
	*maker.Maker
	w *wallet.Wallet
}

func (m makerOffers) SignWithBondKey(ctx context.Context, op wire.OutPoint, digest [32]byte) ([]byte, error) {
	return m.w.SignWithBondKey(ctx, op, digest)
}
