package script

import (
	"math"
	"time"
)

// Bond value parameters (JoinMarket; Belcher, "Financial mathematics of
// JoinMarket fidelity bonds", gist 87ebbcbb…; citadel coinswap uses the same).
const (
	// BondInterestRate r is the assumed yearly interest rate forgone by
	// locking coins: 1.5 %/year, continuous compounding.
	BondInterestRate = 0.015
	// BondValueExponent x > 1 makes one big bond worth more than several
	// small ones of the same total, so splitting into Sybil identities costs.
	BondValueExponent = 1.3
	// secondsPerYear is a Gregorian year: 365.2425 days.
	secondsPerYear = 60 * 60 * 24 * 365.2425
	// BlockInterval converts block heights to times (mainnet target 600 s).
	BlockInterval = 600 * time.Second
)

// BondValue returns the value of a timelocked fidelity bond of amountSat
// confirmed at confTime and locked until lockTime, evaluated at now:
//
//	T = lockTime − confTime (years), t − L = max(0, now − lockTime) (years)
//	a = max(0, min(1, e^{rT} − 1) − min(1, e^{r(t−L)} − 1))
//	V = (amountSat · a)^1.3
//
// The value is flat until the lock expires (t − L = 0), then decays and is
// zero once e^{r(t−L)} − 1 ≥ e^{rT} − 1, i.e. as long after expiry as the lock
// lasted. Longer locks are worth more, capped (a ≤ 1) at the value of burning
// the coins. A lock that ends before its confirmation (T < 0) is worth 0.
// Units are sat^1.3: only comparisons between bonds are meaningful.
func BondValue(amountSat int64, confTime, lockTime, now time.Time) float64 {
	if amountSat <= 0 {
		return 0
	}
	T := max(0, lockTime.Sub(confTime).Seconds()) / secondsPerYear
	past := max(0, now.Sub(lockTime).Seconds()) / secondsPerYear
	a := max(0, min(1, math.Expm1(BondInterestRate*T))-min(1, math.Expm1(BondInterestRate*past)))
	return math.Pow(float64(amountSat)*a, BondValueExponent)
}

// LockHeightTime converts a lock height to an estimated time as the
// reference does: tipTime + (lockHeight − tipHeight) · 600 s (negative
// offsets for heights in the past). tipTime should be the tip block's
// header time (or median time past), never the local clock, so every
// verifier computes the same value from the same chain.
func LockHeightTime(lockHeight uint32, tipHeight int32, tipTime time.Time) time.Time {
	return tipTime.Add(time.Duration(int64(lockHeight)-int64(tipHeight)) * BlockInterval)
}

// BondValueAt evaluates BondValue for a height-locked bond from chain data:
// the confirmation block's header time, the lock height converted with
// LockHeightTime from the tip, and now = the tip's time.
func BondValueAt(amountSat int64, confTime time.Time, lockHeight uint32, tipHeight int32, tipTime time.Time) float64 {
	return BondValue(amountSat, confTime, LockHeightTime(lockHeight, tipHeight, tipTime), tipTime)
}
