package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

func init() {
	roleFactories[RoleMaker] = func() Role { return &makerRole{} }
}

// bondPoll is how often the maker checks for the funds of its bond and for
// the bond's confirmation before registering: the wallet watcher polls
// every few seconds, so 2 s adds little delay and no load.
const bondPoll = 2 * time.Second

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

// makerRole runs node/maker and keeps it registered with the directories.
type makerRole struct {
	control.Unimplemented
	env *Env
	log *slog.Logger
	m   *maker.Maker

	mu         sync.Mutex
	reg        *directory.Registrar
	bondNeeded string
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func (r *makerRole) Start(ctx context.Context, env *Env) error {
	r.env, r.log = env, env.Logs.For("maker")
	fp, err := env.Cfg.FaultPlan(r.log)
	if err != nil {
		return err
	}
	mc := env.Cfg.Maker
	m, err := maker.New(maker.Config{
		Wallet:           env.Wallet,
		Backend:          env.Backend,
		Transport:        env.Transport,
		Network:          ProtocolNetwork(env.Cfg.Network),
		Terms:            swap.Terms{BaseFee: mc.BaseFee, AmountFeePPB: uint32(mc.AmountFeePPB), TimeFeePPB: uint32(mc.TimeFeePPB)},
		MaxSize:          mc.MaxSize,
		RequiredConfirms: uint32(mc.RequiredConfirms),
		IdleTimeout:      mc.IdleTimeout,
		Faults:           fp,
		Logger:           r.log,
	})
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	r.m = m
	ctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.wg.Add(1)
	go r.bondAndRegister(ctx)
	return nil
}

// bondAndRegister adopts or creates the bond (waiting for funds when the
// wallet is short), waits for its confirmation, then registers with every
// directory.
func (r *makerRole) bondAndRegister(ctx context.Context) {
	defer r.wg.Done()
	mc := r.env.Cfg.Maker
	var lastNeed string
	for {
		b, err := r.m.EnsureBond(ctx, btcutil.Amount(mc.BondAmount), mc.BondLockBlocks)
		if err == nil && b.ConfHeight > 0 {
			r.setNeeded("")
			break
		}
		var need string
		var ife *wallet.InsufficientFundsError
		switch {
		case err == nil:
			need = fmt.Sprintf("bond %s waits for its confirmation", b.OutPoint)
		case errors.As(err, &ife):
			need = fmt.Sprintf("send %s to %s to fund the %s fidelity bond (have %s)",
				ife.Need-ife.Have, ife.Address, btcutil.Amount(mc.BondAmount), ife.Have)
		default:
			need = "bond: " + err.Error()
		}
		r.setNeeded(need)
		if need != lastNeed {
			// Our own address: fine at Info (it is the operator's to pay).
			r.log.Info("waiting for the fidelity bond", "status", need)
			lastNeed = need
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(bondPoll):
		}
	}
	reg, err := directory.NewRegistrar(directory.RegistrarConfig{
		Transport:   r.env.Transport,
		Directories: r.env.Cfg.Directories,
		Proof: func(ctx context.Context) (protocol.FidelityProof, error) {
			p, err := r.m.BondProof(ctx, "")
			if err != nil {
				return protocol.FidelityProof{}, err
			}
			return *p, nil
		},
		Client: directory.ClientConfig{Network: ProtocolNetwork(r.env.Cfg.Network), Logger: r.env.Logs.For("directory")},
		Logger: r.env.Logs.For("directory"),
	})
	if err != nil {
		r.env.Fatal(fmt.Errorf("maker: registrar: %w", err))
		return
	}
	r.mu.Lock()
	if ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	r.reg = reg
	r.mu.Unlock()
	reg.Start()
	r.log.Info("registering with directories", "directories", len(r.env.Cfg.Directories))
}

func (r *makerRole) setNeeded(s string) {
	r.mu.Lock()
	r.bondNeeded = s
	r.mu.Unlock()
}

func (r *makerRole) registrar() *directory.Registrar {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg
}

// Ready: bond confirmed and registered with at least one directory.
func (r *makerRole) Ready() bool {
	reg := r.registrar()
	if reg == nil {
		return false
	}
	for _, s := range reg.Status() {
		if s.Registered {
			return true
		}
	}
	return false
}

func (r *makerRole) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if reg := r.registrar(); reg != nil {
		reg.Stop()
	}
	if r.m != nil {
		r.m.Stop()
	}
}

func (r *makerRole) MakerStatus(ctx context.Context) (*control.MakerStatus, error) {
	st := &control.MakerStatus{Onion: r.m.Addr(), Registered: map[string]time.Time{}}
	r.mu.Lock()
	st.BondNeeded = r.bondNeeded
	r.mu.Unlock()
	if b, err := r.m.Bond(ctx); err == nil {
		st.Bond = &control.BondInfo{OutPoint: b.OutPoint.String(), Amount: int64(b.Amount), LockHeight: b.LockHeight,
			ConfHeight: b.ConfHeight, Status: b.Status}
	}
	for _, d := range r.env.Cfg.Directories {
		st.Registered[d] = time.Time{}
	}
	if reg := r.registrar(); reg != nil {
		for _, s := range reg.Status() {
			if s.Registered {
				st.Registered[s.Addr] = s.LastAck
			}
		}
	}
	if st.Bond != nil && st.Bond.ConfHeight > 0 {
		if o, err := r.m.Offer(ctx); err == nil {
			st.Offer, _ = json.Marshal(offerJSON(o))
		}
	}
	swaps, err := r.m.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range swaps {
		if s.Phase.Final() {
			continue
		}
		st.ActiveSwaps++
		if s.Phase == swap.MakerReserved {
			st.Reservations = append(st.Reservations, control.Reservation{SwapID: s.ID.String(), Amount: s.OutTotal})
		}
	}
	return st, nil
}

// offerJSON is the offer without the bond proof's signature bytes.
func offerJSON(o *protocol.Offer) map[string]any {
	return map[string]any{
		"base_fee": o.BaseFee, "amount_fee_ppb": o.AmountFeePPB, "time_fee_ppb": o.TimeFeePPB,
		"min_size": o.MinSize, "max_size": o.MaxSize, "min_locktime": o.MinLocktime,
		"required_confirms": o.RequiredConfirms, "bond_outpoint": o.Fidelity.BondOutPoint.String(),
		"bond_value": o.Fidelity.BondValue, "cert_expiry": o.Fidelity.CertExpiry,
	}
}

func (r *makerRole) Swaps(ctx context.Context) ([]control.SwapInfo, error) {
	swaps, err := r.m.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]control.SwapInfo, 0, len(swaps))
	for _, s := range swaps {
		out = append(out, makerSwapInfo(s))
	}
	return out, nil
}

func (r *makerRole) Swap(ctx context.Context, id string) (*control.SwapInfo, error) {
	sid, err := parseSwapID(id)
	if err != nil {
		return nil, err
	}
	s, err := r.m.Swap(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("%w: swap %s: %v", control.ErrNotFound, id, err)
	}
	info := makerSwapInfo(s)
	return &info, nil
}

func makerSwapInfo(s *swap.MakerSwap) control.SwapInfo {
	info := control.SwapInfo{ID: s.ID.String(), Role: string(swap.RoleMaker), Phase: string(s.Phase), Amount: s.InTotal,
		TxCount: s.TxCount, Final: s.Phase.Final(), Error: s.Error}
	info.Detail, _ = json.Marshal(map[string]any{
		"in_total": s.InTotal, "out_total": s.OutTotal, "fee": s.Fee, "reimbursement": s.Reimbursement,
		"in_locktime": s.InLocktime, "out_locktime": s.OutLocktime, "outputs": outputsJSON(s.Outputs()),
	})
	return info
}

// outputsJSON describes swap outputs without keys, signatures or scripts.
func outputsJSON(outs []*swap.Output) []map[string]any {
	out := make([]map[string]any, 0, len(outs))
	for _, o := range outs {
		m := map[string]any{"hop": o.Hop, "dir": o.Dir, "funding": o.FundingOutPoint.String(), "value": o.Value, "status": o.Status}
		if o.ResolveTxid != nil {
			m["resolve_txid"] = o.ResolveTxid.String()
		}
		out = append(out, m)
	}
	return out
}

// parseSwapID decodes a hex swap id.
func parseSwapID(s string) (protocol.SwapID, error) {
	var id protocol.SwapID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: swap id %q: want %d hex bytes", control.ErrBadRequest, s, len(id))
	}
	copy(id[:], b)
	return id, nil
}
