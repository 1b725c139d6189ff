package swap

import (
	"errors"
	"fmt"

	"github.com/onionswap/onionswap/protocol"
)

// Refusal reasons. Every check returns one of them wrapped with details;
// Code maps them to the protocol ErrorCode sent to the peer.
var (
	ErrConfig           = errors.New("unsafe or invalid configuration")
	ErrAmount           = errors.New("amount refused")
	ErrTxCount          = errors.New("tx_count refused")
	ErrLocktime         = errors.New("locktime refused")
	ErrReactionTime     = errors.New("locktime gap below the reaction time")
	ErrFeeRate          = errors.New("fee rate refused")
	ErrReimbursement    = errors.New("mining-fee reimbursement differs from the formula")
	ErrFeeSkim          = errors.New("forwarded amount differs from incoming − fee − reimbursement")
	ErrScript           = errors.New("script differs from the agreed one")
	ErrKeyNotMine       = errors.New("multisig does not contain our key")
	ErrKeyMismatch      = errors.New("key does not match the expected public key")
	ErrContractTx       = errors.New("contract transaction differs from the agreed one")
	ErrSignature        = errors.New("signature does not verify")
	ErrHash             = errors.New("wrong hash or preimage")
	ErrOutpointBound    = errors.New("funding outpoint already bound to another contract")
	ErrDuplicate        = errors.New("duplicate funding outpoint")
	ErrFundingMissing   = errors.New("funding output missing, spent or different on chain")
	ErrNotConfirmed     = errors.New("funding not confirmed deeply enough")
	ErrLiquidity        = errors.New("insufficient liquidity")
	ErrUnavailable      = errors.New("chain backend or watcher unavailable")
	ErrUnknownSwap      = errors.New("unknown swap")
	ErrWrongPhase       = errors.New("message not allowed in the swap's phase")
	ErrBusy             = errors.New("at capacity")
	ErrFaultNotRegtest  = errors.New("fault injection is only allowed on regtest")
	ErrNotEnoughMakers  = errors.New("not enough makers")
	ErrFundedRecovering = errors.New("swap failed after funding; recovering")
	ErrContractOnChain  = errors.New("a contract of the swap is on chain")
	ErrFundingProof     = errors.New("funding proof refused")
)

// Code maps an error to the protocol ErrorCode to send.
func Code(err error) protocol.ErrorCode {
	switch {
	case errors.Is(err, ErrSignature):
		return protocol.CodeInvalidSignature
	case errors.Is(err, ErrLiquidity):
		return protocol.CodeInsufficientLiquidity
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrBusy):
		return protocol.CodeBusy
	case errors.Is(err, ErrUnknownSwap):
		return protocol.CodeUnknownSwap
	case errors.Is(err, ErrWrongPhase):
		return protocol.CodeProtocolViolation
	case errors.Is(err, ErrAmount), errors.Is(err, ErrTxCount), errors.Is(err, ErrLocktime),
		errors.Is(err, ErrReactionTime), errors.Is(err, ErrFeeRate), errors.Is(err, ErrReimbursement),
		errors.Is(err, ErrFeeSkim), errors.Is(err, ErrScript), errors.Is(err, ErrKeyNotMine),
		errors.Is(err, ErrKeyMismatch), errors.Is(err, ErrContractTx), errors.Is(err, ErrHash),
		errors.Is(err, ErrOutpointBound), errors.Is(err, ErrDuplicate), errors.Is(err, ErrFundingMissing),
		errors.Is(err, ErrNotConfirmed), errors.Is(err, ErrFundingProof):
		return protocol.CodeInvalidRequest
	}
	return protocol.CodeInternal
}

func refuse(base error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", base, fmt.Sprintf(format, args...))
}
