package daemon

import (
	"time"

	"github.com/onionswap/onionswap/node/coinjoin"
)

// CoinJoinConfig configures the CoinJoin of makers and takers (issue 14).
type CoinJoinConfig struct {
	// Auto joins the wallet's traceable coins of the right size by itself
	// (off by default: a round spends a coin).
	Auto bool
	// Denomination of every output, sat (0: coinjoin.DefaultDenomination).
	Denomination int64
	// T: the least participants of a round and the anonymity target (0:
	// coinjoin.DefaultT).
	T int
	// StartAt: announcements a leader waits for (0: 3T); Patience: after
	// it, T are enough (0: coinjoin.DefaultPatience).
	StartAt  int
	Patience time.Duration
	// FeeRate: the most a round may ask of us, sat/vB (0: default).
	FeeRate int64
	// PhaseTimeout: a round phase's timeout (0: coinjoin.PhaseTimeout);
	// tests shorten it.
	PhaseTimeout time.Duration
	// Fault: a misbehaviour for the tests (coinjoin.Fault*), regtest only.
	Fault string
}

func (cc *CoinJoinConfig) validate(network string) error {
	switch {
	case cc.Denomination != 0 && cc.Denomination < coinjoin.MinDenomination:
		return cfgErr("--coinjoin-denomination %d: want at least %d sat", cc.Denomination, coinjoin.MinDenomination)
	case cc.T != 0 && (cc.T < coinjoin.MinParticipants || cc.T > coinjoin.MaxParticipants/2):
		return cfgErr("--coinjoin-t %d: want %d to %d", cc.T, coinjoin.MinParticipants, coinjoin.MaxParticipants/2)
	case cc.StartAt < 0 || cc.StartAt > coinjoin.MaxParticipants:
		return cfgErr("--coinjoin-start-at %d: want 0 (3T) to %d", cc.StartAt, coinjoin.MaxParticipants)
	case cc.FeeRate < 0 || cc.FeeRate > coinjoin.MaxFeeRate:
		return cfgErr("--coinjoin-fee-rate %d: want 0 (default) to %d sat/vB", cc.FeeRate, coinjoin.MaxFeeRate)
	case cc.Patience < 0 || cc.PhaseTimeout < 0:
		return cfgErr("coinjoin durations must not be negative")
	}
	switch cc.Fault {
	case coinjoin.FaultNone:
	case coinjoin.FaultNoSign, coinjoin.FaultAlterOutput, coinjoin.FaultCrashAfterInput:
		if network != "regtest" {
			return cfgErr("--coinjoin-fault is accepted only on regtest (network is %s)", network)
		}
	default:
		return cfgErr("--coinjoin-fault %q: want %s, %s or %s", cc.Fault, coinjoin.FaultNoSign, coinjoin.FaultAlterOutput, coinjoin.FaultCrashAfterInput)
	}
	return nil
}
