package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/tor"
)

// CoinJoinDBName is the CoinJoin's database inside the data directory.
const CoinJoinDBName = "coinjoin.db"

// newCoinJoin: the CoinJoin of every maker and taker node (issue 14):
// announcements on the pool, each round over a fresh ephemeral onion of
// the node's tor. Without the pool it still lists the coins' anonymity
// sets but cannot mix.
func newCoinJoin(env *Env) (service.Service, error) {
	cc := env.Cfg.CoinJoin
	log := env.Logs.For("coinjoin")
	cfg := coinjoin.Config{
		DBPath:       filepath.Join(env.Cfg.DataDir, CoinJoinDBName),
		Network:      ProtocolNetwork(env.Cfg.Network),
		Wallet:       env.Wallet,
		Chain:        env.Backend,
		Dialer:       env.Transport,
		Denomination: cc.Denomination,
		T:            cc.T,
		StartAt:      cc.StartAt,
		Patience:     cc.Patience,
		FeeRate:      cc.FeeRate,
		Auto:         cc.Auto,
		AnonTarget:   cc.T,
		Phase:        cc.PhaseTimeout,
		// Tests shorten the phases; linking keeps twice that, as a first
		// stream to a fresh onion is a round's slowest step.
		Link:   2 * cc.PhaseTimeout,
		Fault:  cc.Fault,
		Logger: log,
	}
	if env.pool != nil {
		cfg.Pool = env.pool
	}
	if t, ok := env.Transport.(*tor.TorTransport); ok {
		cfg.Listen = func(ctx context.Context) (net.Listener, error) { return t.ListenEphemeral(ctx) }
	}
	if cc.Fault == coinjoin.FaultCrashAfterInput {
		cfg.Crash = func() {
			log.Warn("fault injection: crashing now (SIGKILL)")
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	return coinjoin.New(context.Background(), cfg)
}
