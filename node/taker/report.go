package taker

import (
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/protocol"
)

// MakerReport is one maker's share.
type MakerReport struct {
	Addr          string // log at Debug only
	Fee           int64
	Reimbursement int64
	FundingTxids  []chainhash.Hash
}

// PhaseTiming is the wall time of one phase.
type PhaseTiming struct {
	Phase string
	Wall  time.Duration
	// BlockWait is the part spent waiting for confirmations.
	BlockWait time.Duration
}

// Report summarizes a finished swap.
type Report struct {
	SwapID         protocol.SwapID
	AmountSent     int64 // hop 0 total
	AmountReceived int64 // hop n total (before our sweep fees)
	Makers         []MakerReport
	MakerFees      int64 // Σ maker fees
	Reimbursements int64 // Σ mining-fee reimbursements paid to makers
	FundingFees    int64 // our hop-0 funding txs' fees
	SweepFees      int64 // our sweep txs' fees
	FundingTxids   []chainhash.Hash
	SweepTxids     []chainhash.Hash
	Phases         []PhaseTiming
	Total          time.Duration
	BlockWait      time.Duration // total spent waiting for confirmations
	RoundTrips     int
	Connections    int
	BytesSent      uint64
	BytesReceived  uint64
	Attempts       int
	ReplacedMakers int
}

func (r *run) report(start time.Time) {
	rep, rec := r.rep, r.rec
	rep.SwapID = rec.ID
	rep.Total = time.Since(start)
	rep.AmountSent = rec.Amount
	for _, o := range rec.In {
		rep.AmountReceived += o.Value
	}
	for _, f := range rec.FundingFees {
		rep.FundingFees += f
	}
	for _, f := range rec.SweepFees {
		rep.SweepFees += f
	}
	for _, o := range rec.Out {
		rep.FundingTxids = append(rep.FundingTxids, o.FundingOutPoint.Hash)
	}
	for _, o := range rec.In {
		if o.ResolveTxid != nil {
			rep.SweepTxids = append(rep.SweepTxids, *o.ResolveTxid)
		}
	}
	rep.Makers = nil
	rep.MakerFees, rep.Reimbursements = 0, 0
	for _, l := range rec.Makers {
		rep.Makers = append(rep.Makers, MakerReport{Addr: l.Addr, Fee: l.Fee, Reimbursement: l.Reimbursement, FundingTxids: l.FundingTxids})
		rep.MakerFees += l.Fee
		rep.Reimbursements += l.Reimbursement
	}
	s := r.cnt.stats()
	rep.RoundTrips, rep.Connections = r.cnt.roundTrips, r.cnt.connections
	rep.BytesSent, rep.BytesReceived = s.BytesSent, s.BytesReceived
}
