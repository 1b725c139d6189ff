package script

import (
	"math"
	"testing"
	"time"
)

const year = 60 * 60 * 24 * 365.2425 // seconds

func at(sec float64) time.Time { return time.Unix(int64(sec), 0) }

func TestBondValueVectors(t *testing.T) {
	// citadel-tech/coinswap test_fidelity_bond_values: 1 BTC confirmed at
	// t=50,000 s, evaluated at t=60,000 s; the value truncated to an integer.
	conf, now := at(50_000), at(60_000)
	vectors := []struct {
		lock int64
		want float64
	}{
		{55000, 0}, {60000, 3020}, {65000, 5117}, {70000, 7437}, {75000, 9940}, {80000, 12599},
		{85000, 15395}, {90000, 18313}, {95000, 21344}, {100000, 24477}, {105000, 27706},
		{110000, 31024}, {115000, 34426}, {120000, 37908}, {125000, 41465}, {130000, 45094},
		{135000, 48792}, {140000, 52556}, {145000, 56383},
	}
	for _, v := range vectors {
		if got := math.Floor(BondValue(100_000_000, conf, time.Unix(v.lock, 0), now)); got != v.want {
			t.Errorf("lock %d: got %.0f want %.0f", v.lock, got, v.want)
		}
	}

	// Hand-derived values.
	const amount = 100_000_000
	tCap := math.Ln2 / BondInterestRate * year // e^{rT} − 1 = 1 → a = 1
	hand := []struct {
		name             string
		conf, lock, now  float64
		amountSat        int64
		want, relTolance float64
	}{
		// a = 1: V = (1e8)^1.3 = 10^10.4.
		{"capped at burn value", 0, tCap + year, 0, amount, math.Pow(10, 10.4), 1e-12},
		// One-year lock, before expiry: a = e^{0.015} − 1.
		{"one year", 0, year, year / 2, amount, math.Pow(amount*(math.Exp(0.015)-1), 1.3), 1e-12},
		// One-year lock, half a year after expiry: a = (e^{0.015} − 1) − (e^{0.0075} − 1).
		{"half a year after expiry", 0, year, 1.5 * year, amount,
			math.Pow(amount*(math.Exp(0.015)-math.Exp(0.0075)), 1.3), 1e-9},
		// As long after expiry as the lock lasted: a = 0.
		{"zero when T past expiry", 0, year, 2 * year, amount, 0, 0},
		{"far past", 0, year, 50 * year, amount, 0, 0},
		{"lock before confirmation", year, 0, 0, amount, 0, 0},
		{"zero amount", 0, year, 0, 0, 0, 0},
		// 1 sat, capped: (1·1)^1.3 = 1.
		{"one sat capped", 0, 100 * year, 0, 1, 1, 1e-12},
	}
	for _, h := range hand {
		got := BondValue(h.amountSat, at(h.conf), at(h.lock), at(h.now))
		if math.Abs(got-h.want) > h.relTolance*math.Max(1, h.want) {
			t.Errorf("%s: got %v want %v", h.name, got, h.want)
		}
	}
}

func TestBondValueShape(t *testing.T) {
	const amount = 100_000_000
	// Flat before expiry (lock 6 years, evaluated in years 0..5).
	base := BondValue(amount, at(0), at(6*year), at(0))
	for y := 1.0; y < 6; y++ {
		if v := BondValue(amount, at(0), at(6*year), at(y*year)); math.Abs(v-base) > 1e-6*base {
			t.Errorf("not flat at year %v: %v vs %v", y, v, base)
		}
	}
	// Strictly decreasing after expiry, until zero.
	prev := base
	for y := 6.5; y < 12; y += 0.5 {
		v := BondValue(amount, at(0), at(6*year), at(y*year))
		if v >= prev {
			t.Errorf("not decaying at year %v: %v ≥ %v", y, v, prev)
		}
		prev = v
	}
	if v := BondValue(amount, at(0), at(6*year), at(12*year)); v != 0 {
		t.Errorf("not zero 6 years after a 6-year lock: %v", v)
	}
	// Longer lock → more value, and superlinear (ratio v[i]/v[i+1] grows).
	prev = 0
	var prevRatio float64
	for y := 1.0; y <= 5; y++ {
		v := BondValue(amount, at(0), at(y*year), at(0))
		if v <= prev {
			t.Errorf("lock %v years not worth more: %v ≤ %v", y, v, prev)
		}
		if prev > 0 {
			ratio := prev / v
			if prevRatio > 0 && ratio <= prevRatio {
				t.Errorf("ratio not increasing at %v years", y)
			}
			prevRatio = ratio
		}
		prev = v
	}
	// Far-future locks are capped at the burn value.
	a, b := BondValue(amount, at(0), at(200*year), at(0)), BondValue(amount, at(0), at(204*year), at(0))
	if a != b {
		t.Errorf("not capped: %v vs %v", a, b)
	}
	// Exponent > 1: one bond of 2x beats two bonds of x.
	one := BondValue(2*amount, at(0), at(year), at(0))
	two := 2 * BondValue(amount, at(0), at(year), at(0))
	if one <= two {
		t.Errorf("splitting is not penalized: %v ≤ %v", one, two)
	}
}

func TestLockHeightTime(t *testing.T) {
	tip := time.Unix(1_700_000_000, 0)
	if got := LockHeightTime(1144, 1000, tip); !got.Equal(tip.Add(144 * 600 * time.Second)) {
		t.Errorf("future: %v", got)
	}
	if got := LockHeightTime(900, 1000, tip); !got.Equal(tip.Add(-100 * 600 * time.Second)) {
		t.Errorf("past: %v", got)
	}
	// BondValueAt: flat until the lock height, then decays.
	conf := tip.Add(-10 * 600 * time.Second)
	v1 := BondValueAt(1e8, conf, 20000, 15000, tip)
	v2 := BondValueAt(1e8, conf, 20000, 16000, tip.Add(1000*600*time.Second))
	if math.Abs(v1-v2) > 1e-6*v1 || v1 <= 0 {
		t.Errorf("not flat: %v %v", v1, v2)
	}
	if v3 := BondValueAt(1e8, conf, 20000, 21000, tip.Add(6000*600*time.Second)); v3 >= v1 {
		t.Errorf("not decaying after lock height: %v ≥ %v", v3, v1)
	}
}
