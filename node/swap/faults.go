package swap

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
)

// Fault names (FaultPlan entries). Maker faults act on every swap the
// maker serves; taker faults on the taker's swap.
const (
	// "maker:close-at=<msg>": close the connection without answering when
	// that message arrives: setup (SetupHop), funding (FundHop), preimage
	// (Preimage), privkeys (the taker's PrivKeyHandover).
	FaultMakerCloseAt = "maker:close-at"
	// The maker answers FundHop but never broadcasts its funding.
	FaultMakerSkipFunding = "maker:skip-funding-broadcast"
	// The maker closes the connection right after sweeping its incoming.
	FaultMakerCloseAfterSweep = "maker:close-after-sweep"
	// After broadcasting its funding, the maker broadcasts all its
	// contracts and vanishes from the swap (no recovery of its own).
	FaultMakerBroadcastContracts = "maker:broadcast-contracts-after-setup"
	// The taker stops (no settlement, no recovery) once every hop is funded.
	FaultTakerVanish = "taker:vanish-after-funding"
	// The taker keeps sending keep-alives but never settles.
	FaultTakerStall = "taker:stall-with-keepalives"
	// The taker broadcasts its contracts once every hop is funded, then recovers.
	FaultTakerBroadcastContracts = "taker:broadcast-contracts-after-setup"
	// A restarted taker does not resume its interrupted swaps with the
	// makers: it recovers them on chain at once (tests of that path).
	FaultTakerNoResume = "taker:no-resume"
	// "maker:skim-fee=<sat>": the maker forwards that much less than
	// incoming − fee − reimbursement (the taker must refuse it).
	FaultMakerSkimFee = "maker:skim-fee"
	// "crash-after=<phase>": exit(137) right after committing that phase.
	FaultCrashAfter = "crash-after"
	// "taker:route=<addr>/<addr>/…": the taker fills route position i with
	// the i-th named maker instead of a bond-weighted random pick (tests
	// that need a given maker at a given position).
	FaultTakerRoute = "taker:route"
)

// FaultPlan is a set of injected faults, for tests on regtest only.
type FaultPlan struct {
	set     map[string]string
	crashFn func()
}

// ParseFaultPlan parses entries like "maker:close-at=setup" and refuses
// any fault on a network other than regtest.
func ParseFaultPlan(entries []string, params *chaincfg.Params) (*FaultPlan, error) {
	p := &FaultPlan{set: map[string]string{}}
	if len(entries) == 0 {
		return p, nil
	}
	if params == nil || params.Name != chaincfg.RegressionNetParams.Name {
		return nil, fmt.Errorf("%w (network %v)", ErrFaultNotRegtest, paramsName(params))
	}
	for _, e := range entries {
		k, v, _ := strings.Cut(strings.TrimSpace(e), "=")
		switch k {
		case FaultMakerCloseAt:
			switch v {
			case "setup", "funding", "preimage", "privkeys":
			default:
				return nil, fmt.Errorf("fault %q: unknown message %q", e, v)
			}
		case FaultMakerSkipFunding, FaultMakerCloseAfterSweep, FaultMakerBroadcastContracts,
			FaultTakerVanish, FaultTakerStall, FaultTakerBroadcastContracts, FaultTakerNoResume:
		case FaultMakerSkimFee:
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
				return nil, fmt.Errorf("fault %q: want a positive amount", e)
			}
		case FaultCrashAfter:
			if v == "" {
				return nil, fmt.Errorf("fault %q: no phase", e)
			}
		case FaultTakerRoute:
			if v == "" {
				return nil, fmt.Errorf("fault %q: no maker", e)
			}
		default:
			return nil, fmt.Errorf("unknown fault %q", e)
		}
		p.set[k] = v
	}
	return p, nil
}

func paramsName(p *chaincfg.Params) string {
	if p == nil {
		return "unknown"
	}
	return p.Name
}

// Has reports whether fault k is set (nil plan: none).
func (p *FaultPlan) Has(k string) bool {
	if p == nil {
		return false
	}
	_, ok := p.set[k]
	return ok
}

// Value of fault k ("" when unset).
func (p *FaultPlan) Value(k string) string {
	if p == nil {
		return ""
	}
	return p.set[k]
}

// CloseAt reports whether the maker must drop the connection at msg.
func (p *FaultPlan) CloseAt(msg string) bool { return p.Value(FaultMakerCloseAt) == msg }

// SetCrashFunc replaces os.Exit(137) (in-process tests).
func (p *FaultPlan) SetCrashFunc(fn func()) {
	if p != nil {
		p.crashFn = fn
	}
}

// AfterCommit crashes the process if crash-after=<phase> names phase. Call
// it right after committing a phase.
func (p *FaultPlan) AfterCommit(phase Phase) {
	if p == nil || p.Value(FaultCrashAfter) != string(phase) {
		return
	}
	if p.crashFn != nil {
		p.crashFn()
		return
	}
	os.Exit(137)
}

// Route is the taker:route list of maker addresses (nil when unset).
func (p *FaultPlan) Route() []string {
	if v := p.Value(FaultTakerRoute); v != "" {
		return strings.Split(v, "/")
	}
	return nil
}

// SkimFee is the maker:skim-fee amount (0 when unset).
func (p *FaultPlan) SkimFee() int64 {
	n, _ := strconv.ParseInt(p.Value(FaultMakerSkimFee), 10, 64)
	return n
}
