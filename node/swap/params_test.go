package swap

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/onionswap/onionswap/protocol"
)

func TestMakerFee(t *testing.T) {
	tests := []struct {
		name   string
		terms  Terms
		amount int64
		lock   uint16
		want   int64
	}{
		{"reference example: 100k sat, 20 blocks", Terms{BaseFee: 100, AmountFeePPB: 1_000_000, TimeFeePPB: 50_000}, 100_000, 20, 100 + 100 + 100},
		{"floors each part", Terms{BaseFee: 0, AmountFeePPB: 1, TimeFeePPB: 1}, 999_999_999, 1, 0},
		{"no int64 overflow in amount·locktime·ppb at 21M BTC", Terms{AmountFeePPB: 1_000_000_000, TimeFeePPB: 1_000_000},
			2_100_000_000_000_000, 2016, 2_100_000_000_000_000 + 4_233_600_000_000_000},
		{"test terms", Terms{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000}, 10_000_000, 40, 1000 + 10_000 + 4000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakerFee(tc.terms, tc.amount, tc.lock)
			if got != tc.want {
				t.Fatalf("fee %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReimbursementAndSizes(t *testing.T) {
	if FundingTxVSize != 153 || ContractTxVSize != 150 || SweepTxVSize != 138 {
		t.Fatalf("vsizes funding %d contract %d sweep %d", FundingTxVSize, ContractTxVSize, SweepTxVSize)
	}
	if got := Reimbursement(3, 2000); got != 918 {
		t.Fatalf("reimbursement %d, want 3×153×2 = 918", got)
	}
	if got := Reimbursement(3, 1001); got != 459 { // ⌊3·153·1001/1000⌋
		t.Fatalf("reimbursement %d, want 459", got)
	}
	if Forward(10_000_000, 15_000, 918) != 9_984_082 {
		t.Fatal("forward")
	}
}

func TestLocktimesAndSchedule(t *testing.T) {
	if got := Locktimes(2, 20, 20); len(got) != 3 || got[0] != 60 || got[1] != 40 || got[2] != 20 {
		t.Fatalf("locktimes %v", got)
	}
	tests := []struct {
		name       string
		n          int
		last, step uint16
		ok         bool
	}{
		{"defaults, 2 makers", 2, DefaultLastHopLocktime, DefaultLocktimeStep, true},
		{"last hop below the reaction floor", 2, MinReactionBlocks - 1, 20, false},
		{"step below the reaction floor", 2, 20, MinReactionBlocks - 1, false},
		{"no makers", 0, 20, 20, false},
		{"too long", 8, 20, 300, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSchedule(tc.n, tc.last, tc.step)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestSplitAmount(t *testing.T) {
	for i := 0; i < 200; i++ {
		parts, err := SplitAmount(1_000_003, 3, MinOutputValue)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, p := range parts {
			if p < MinOutputValue {
				t.Fatalf("part %d below minimum", p)
			}
			sum += p
		}
		if sum != 1_000_003 {
			t.Fatalf("sum %d", sum)
		}
	}
	if _, err := SplitAmount(29_999, 3, 10_000); !errors.Is(err, ErrAmount) {
		t.Fatalf("err = %v", err)
	}
	if p, err := SplitAmount(30_000, 3, 10_000); err != nil || p[0] != 10_000 || p[1] != 10_000 || p[2] != 10_000 {
		t.Fatalf("exact split %v %v", p, err)
	}
}

func TestWeightedPick(t *testing.T) {
	counts := make([]int, 3)
	for i := 0; i < 3000; i++ {
		counts[WeightedPick([]float64{1, 0, 9})]++
	}
	if counts[1] != 0 || counts[2] < 2400 || counts[0] < 150 {
		t.Fatalf("counts %v", counts)
	}
}

func TestCheckSetupTerms(t *testing.T) {
	pol := MakerPolicy{MinSize: 30_000, MaxSize: 10_000_000, MinLocktime: 40, ReactionBlocks: 20, FeeRateFloor: 1000}
	base := func() *protocol.SetupHop {
		m := &protocol.SetupHop{InLocktime: 60, OutLocktime: 40, FundingFeeRate: 2000, ContractFeeRate: 4000,
			Reimbursement: Reimbursement(2, 2000)}
		for i := 0; i < 2; i++ {
			m.Incoming = append(m.Incoming, protocol.IncomingOutput{FundingValue: 50_000})
			m.Incoming[i].FundingOutPoint.Index = uint32(i)
			m.Outgoing = append(m.Outgoing, protocol.NextHopKeys{})
		}
		return m
	}
	tests := []struct {
		name   string
		mutate func(m *protocol.SetupHop)
		want   error
	}{
		{"valid", func(*protocol.SetupHop) {}, nil},
		{"gap below reaction time", func(m *protocol.SetupHop) { m.OutLocktime = 45 }, ErrReactionTime},
		{"incoming locktime below minimum", func(m *protocol.SetupHop) { m.InLocktime, m.OutLocktime = 35, 15 }, ErrLocktime},
		{"outgoing locktime below floor", func(m *protocol.SetupHop) { m.InLocktime, m.OutLocktime = 40, 5 }, ErrLocktime},
		{"reimbursement off by one", func(m *protocol.SetupHop) { m.Reimbursement++ }, ErrReimbursement},
		{"fee rate below floor", func(m *protocol.SetupHop) {
			m.FundingFeeRate = 1000
			m.Reimbursement = Reimbursement(2, 1000)
			m.ContractFeeRate = 1000
		}, nil},
		{"contract rate below funding rate", func(m *protocol.SetupHop) { m.ContractFeeRate = 1500 }, ErrFeeRate},
		{"fee rate below minimum relay", func(m *protocol.SetupHop) { m.FundingFeeRate = 500 }, ErrFeeRate},
		{"duplicate outpoint", func(m *protocol.SetupHop) { m.Incoming[1].FundingOutPoint = m.Incoming[0].FundingOutPoint }, ErrDuplicate},
		{"output below minimum", func(m *protocol.SetupHop) { m.Incoming[0].FundingValue = 9_999 }, ErrAmount},
		{"above max size", func(m *protocol.SetupHop) { m.Incoming[0].FundingValue = 10_000_000 }, ErrAmount},
		{"count mismatch", func(m *protocol.SetupHop) { m.Outgoing = m.Outgoing[:1] }, ErrTxCount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.mutate(m)
			_, err := CheckSetupTerms(m, pol)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && Code(err) != protocol.CodeInvalidRequest {
				t.Fatalf("code %s", Code(err))
			}
		})
	}
}

func TestFaultPlan(t *testing.T) {
	if _, err := ParseFaultPlan([]string{"maker:close-at=setup"}, &chaincfg.MainNetParams); !errors.Is(err, ErrFaultNotRegtest) {
		t.Fatalf("mainnet fault accepted: %v", err)
	}
	if _, err := ParseFaultPlan([]string{"maker:close-at=setup"}, &chaincfg.SigNetParams); !errors.Is(err, ErrFaultNotRegtest) {
		t.Fatalf("signet fault accepted: %v", err)
	}
	if p, err := ParseFaultPlan(nil, &chaincfg.MainNetParams); err != nil || p.Has(FaultMakerSkipFunding) {
		t.Fatalf("empty plan: %v", err)
	}
	p, err := ParseFaultPlan([]string{"maker:close-at=preimage", "crash-after=keys_sent", "maker:skim-fee=5"}, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if !p.CloseAt("preimage") || p.CloseAt("setup") || p.SkimFee() != 5 {
		t.Fatal("plan values")
	}
	crashed := false
	p.SetCrashFunc(func() { crashed = true })
	p.AfterCommit(MakerPreimageKnown)
	if crashed {
		t.Fatal("crashed at the wrong phase")
	}
	p.AfterCommit(MakerKeysSent)
	if !crashed {
		t.Fatal("did not crash after keys_sent")
	}
	for _, bad := range []string{"maker:close-at=nowhere", "nonsense", "maker:skim-fee=-1", "crash-after="} {
		if _, err := ParseFaultPlan([]string{bad}, &chaincfg.RegressionNetParams); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var nilPlan *FaultPlan
	nilPlan.AfterCommit(MakerKeysSent) // no-op
}

func TestPhaseFinal(t *testing.T) {
	for _, p := range []Phase{MakerComplete, TakerComplete, TakerFailed, PhaseAbandoned, PhaseRecovered} {
		if !p.Final() {
			t.Errorf("%s not final", p)
		}
	}
	for _, p := range []Phase{MakerReserved, MakerFundingBroadcast, MakerKeysSent, TakerHop0Broadcast, TakerSettling, PhaseRecovering} {
		if p.Final() {
			t.Errorf("%s final", p)
		}
	}
}
