package maker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

var (
	_ service.Inbound    = (*Maker)(nil)
	_ service.Activity   = (*Maker)(nil)
	_ service.Limited    = (*Maker)(nil)
	_ service.Controlled = (*Maker)(nil)
)

// ConnLifetime: a maker connection that carries no swap in progress is
// closed this long after it was accepted. A taker asks for the offer and
// sets up its hop within seconds of connecting (a few Tor round trips);
// five minutes leaves room for a slow circuit and keeps anyone from
// parking connection slots with pings.
const ConnLifetime = 5 * time.Minute

// Name implements service.Service.
func (m *Maker) Name() string { return "maker" }

// Feature implements service.Inbound.
func (m *Maker) Feature() protocol.FeatureBit { return protocol.FeatureCoinSwapMaker }

// Owns implements service.Inbound: the CoinSwap range.
func (m *Maker) Owns(t protocol.MessageType) bool {
	return t >= protocol.RangeCoinSwapFirst && t <= protocol.RangeCoinSwapLast
}

// Limits implements service.Limited.
func (m *Maker) Limits() service.Limits {
	return service.Limits{MaxConns: m.cfg.MaxConns, Lifetime: ConnLifetime}
}

// Busy implements service.Activity: a connection that carries a swap
// still in progress is never evicted for a newcomer.
func (m *Maker) Busy(c *protocol.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.conns[c] {
		if _, live := m.activity[id]; live {
			return true
		}
	}
	return false
}

// Readiness implements service.Service: ready once the bond is confirmed
// and at least one directory (when any is configured) took the
// registration.
func (m *Maker) Readiness(context.Context) service.Readiness {
	m.mu.Lock()
	need, reg, started, stopped := m.bondNeeded, m.reg, m.started, m.stopped
	m.mu.Unlock()
	switch {
	case stopped:
		return service.NotReady("maker stopped")
	case !started:
		return service.NotReady("maker not started")
	case need != "":
		return service.NotReady(need)
	case len(m.cfg.Directories) == 0 || m.cfg.Bondless: // a bondless maker registers nowhere
		return service.ReadyNow
	case reg == nil:
		return service.NotReady("registration with the directories not started yet")
	}
	for _, s := range reg.Status() {
		if s.Registered {
			return service.ReadyNow
		}
	}
	return service.NotReady(fmt.Sprintf("not registered with any of the %d directories yet", len(m.cfg.Directories)))
}

func (m *Maker) setBondNeeded(s string) {
	m.mu.Lock()
	m.bondNeeded = s
	m.mu.Unlock()
}

// bondAndRegister adopts or creates the bond (waiting for funds when the
// wallet is short: the wallet names one address until it is paid), waits
// for its confirmation, then registers with every directory.
func (m *Maker) bondAndRegister(ctx context.Context) {
	defer m.wg.Done()
	if m.cfg.Bondless {
		m.setBondNeeded("")
		m.log.Info("no fidelity bond: the offer is backed by an integrity fee and found in the pool's book only")
		return
	}
	var lastNeed string
	for {
		b, err := m.EnsureBond(ctx, m.cfg.BondAmount, m.cfg.BondLockBlocks)
		if err == nil && b.ConfHeight > 0 {
			m.setBondNeeded("")
			break
		}
		var need string
		var ife *wallet.InsufficientFundsError
		switch {
		case err == nil:
			need = fmt.Sprintf("bond %s waits for its confirmation", b.OutPoint)
		case errors.As(err, &ife):
			need = fmt.Sprintf("send %s to %s to fund the %s fidelity bond (have %s)",
				ife.Need-ife.Have, ife.Address, m.cfg.BondAmount, ife.Have)
		case ctx.Err() != nil:
			return
		default:
			need = "bond: " + err.Error()
		}
		m.setBondNeeded(need)
		if need != lastNeed {
			// Our own address: fine at Info (it is the operator's to pay).
			m.log.Info("waiting for the fidelity bond", "status", need)
			lastNeed = need
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.BondPoll):
		}
	}
	m.log.Info("fidelity bond confirmed")
	if len(m.cfg.Directories) == 0 {
		return
	}
	reg, err := directory.NewRegistrar(directory.RegistrarConfig{
		Dialer:      m.cfg.Dialer,
		Directories: m.cfg.Directories,
		Proof: func(ctx context.Context) (protocol.FidelityProof, error) {
			p, err := m.BondProof(ctx, "")
			if err != nil {
				return protocol.FidelityProof{}, err
			}
			return *p, nil
		},
		Sign: func(ctx context.Context, p protocol.FidelityProof, digest [32]byte) ([]byte, error) {
			return m.cfg.Wallet.SignWithBondKey(ctx, p.BondOutPoint, digest)
		},
		Client: directory.ClientConfig{Network: m.cfg.Network, Conn: m.cfg.ConnConfig, Logger: m.log.With("component", "registrar")},
		Logger: m.log.With("component", "registrar"),
	})
	if err != nil {
		m.setBondNeeded("registrar: " + err.Error())
		m.log.Error("cannot register with the directories", "err", err)
		return
	}
	m.mu.Lock()
	if ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.reg = reg
	m.mu.Unlock()
	reg.Start()
	m.log.Info("registering with directories", "directories", len(m.cfg.Directories))
}

// Status is the maker's view for `onionswap maker status`.
func (m *Maker) Status(ctx context.Context) (*control.MakerStatus, error) {
	st := &control.MakerStatus{Onion: m.Addr(), Registered: map[string]time.Time{}}
	m.mu.Lock()
	reg := m.reg
	st.BondNeeded = m.bondNeeded
	m.mu.Unlock()
	if b, err := m.Bond(ctx); err == nil {
		st.Bond = &control.BondInfo{OutPoint: b.OutPoint.String(), Amount: int64(b.Amount), LockHeight: b.LockHeight,
			ConfHeight: b.ConfHeight, Status: b.Status}
	}
	for _, d := range m.cfg.Directories {
		if !m.cfg.Bondless { // a bondless maker does not register
			st.Registered[d] = time.Time{}
		}
	}
	if reg != nil {
		for _, s := range reg.Status() {
			if s.Registered {
				st.Registered[s.Addr] = s.LastAck
			}
		}
	}
	if (st.Bond != nil && st.Bond.ConfHeight > 0) || m.cfg.Bondless {
		if o, err := m.Offer(ctx); err == nil {
			st.Offer, _ = json.Marshal(offerView(o))
		}
	}
	swaps, err := m.Swaps(ctx)
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

// offerView is the offer without the bond proof's signature bytes.
func offerView(o *protocol.Offer) map[string]any {
	v := map[string]any{
		"base_fee": o.BaseFee, "amount_fee_ppb": o.AmountFeePPB, "time_fee_ppb": o.TimeFeePPB,
		"min_size": o.MinSize, "max_size": o.MaxSize, "min_locktime": o.MinLocktime,
		"required_confirms": o.RequiredConfirms,
	}
	if o.HasBond() {
		v["bond_outpoint"], v["bond_value"], v["cert_expiry"] = o.Fidelity.BondOutPoint.String(), o.Fidelity.BondValue,
			o.Fidelity.CertExpiry
	}
	return v
}

// SwapInfo describes a maker swap for the control API.
func SwapInfo(s *swap.MakerSwap) control.SwapInfo {
	info := control.SwapInfo{ID: s.ID.String(), Role: string(swap.RoleMaker), Phase: string(s.Phase), Amount: s.InTotal,
		TxCount: s.TxCount, Final: s.Phase.Final(), Error: s.Error, Created: s.Created, Updated: s.Updated}
	if info.Final {
		info.Outcome = info.Phase
	}
	info.Detail, _ = json.Marshal(map[string]any{
		"in_total": s.InTotal, "out_total": s.OutTotal, "fee": s.Fee, "reimbursement": s.Reimbursement,
		"in_locktime": s.InLocktime, "out_locktime": s.OutLocktime, "outputs": swap.OutputsView(s.Outputs()),
	})
	return info
}

// RegisterControl implements service.Controlled: maker status and the
// maker's swaps.
func (m *Maker) RegisterControl(r *control.Router) {
	control.Get(r, "/v1/maker/status", func(ctx context.Context, _ control.Request) (*control.MakerStatus, error) {
		return m.Status(ctx)
	})
	control.Get(r, "/v1/swaps", func(ctx context.Context, _ control.Request) ([]control.SwapInfo, error) {
		swaps, err := m.Swaps(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]control.SwapInfo, 0, len(swaps))
		for _, s := range swaps {
			out = append(out, SwapInfo(s))
		}
		return out, nil
	})
	control.Get(r, "/v1/swaps/{id}", func(ctx context.Context, q control.Request) (*control.SwapInfo, error) {
		id, err := control.ParseSwapID(q.PathValue("id"))
		if err != nil {
			return nil, err
		}
		s, err := m.Swap(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("%w: swap %s: %v", control.ErrNotFound, q.PathValue("id"), err)
		}
		info := SwapInfo(s)
		return &info, nil
	})
}
