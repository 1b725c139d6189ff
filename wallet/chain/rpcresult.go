package chain

import "encoding/json"

// The answers RPC reads, decoded into our own structs that hold only the
// fields we use: encoding/json ignores every other field, so a field that
// a node adds, removes or retypes and that we do not read cannot break a
// call. btcjson's result types decode fields we never read, some with
// types that Bitcoin Core has since changed (GetNetworkInfoResult.Warnings
// is a string), which is what broke DialRPC on Core ≥ 28.
//
// What changed in the fields we read, Bitcoin Core 24 to 30 and btcd
// 0.24 (checked against the answers of Core 29.99 in
// testdata/bitcoin-core-29.99):
//
//   - getnetworkinfo.warnings, getblockchaininfo.warnings: a string up to
//     Core 27; an array of strings since Core 28.0 (the string only with
//     -deprecatedrpc=warnings, which the release notes call temporary).
//     nodeWarnings accepts both. btcd has no getnetworkinfo and no
//     warnings in getblockchaininfo (we call getinfo / getbestblock there).
//   - getnetworkinfo.version, .subversion; getblockchaininfo.blocks,
//     .bestblockhash; getblockhash; getblock and getblockheader at
//     verbosity 0 (hex); getrawmempool (array of txids, [] when empty):
//     unchanged.
//   - getblockheader verbose: height and confirmations unchanged
//     (confirmations -1 for a block off the main chain). Fields we do not
//     read were added (target, in the recorded 29.99).
//   - getrawtransaction verbose=1: hex and blockhash unchanged (blockhash
//     only once confirmed). scriptPubKey lost addresses/reqSigs in Core 22
//     (address instead); we do not read it.
//   - gettxout: confirmations, value (BTC, 8 decimals) and
//     scriptPubKey.hex unchanged; null for an unknown or spent output
//     (Core also for an output spent in the mempool, btcd not).
//   - gettxspendingprevout: new in Core 24 / btcd 0.24.1 (both checked by
//     DialRPC); spendingtxid only when a mempool transaction spends it:
//     an outpoint spent in a block, or one that never existed, answers
//     like an unspent one, which is why UTXO asks gettxout first.
//   - testmempoolaccept: allowed and reject-reason unchanged; newer Core
//     adds reject-details (the full message, e.g. which transaction a
//     replacement lost against), which TestAccept prefers when present.
//   - estimatesmartfee: feerate absent without data, errors an array of
//     strings; unchanged. We keep errors raw (only logged).
//   - Errors: -28 (RPC_IN_WARMUP) while the node starts, all versions:
//     ErrWarmingUp.

// nodeWarnings is the "warnings" field of getnetworkinfo and
// getblockchaininfo: a string before Core 28, an array of strings since
// (see above). "" and null mean none (json.Unmarshal of null into a
// string succeeds and leaves it empty). Another shape is kept as its JSON
// text instead of failing: the field is only logged, and a call must not
// fail over it again.
type nodeWarnings []string

// UnmarshalJSON implements json.Unmarshaler.
func (w *nodeWarnings) UnmarshalJSON(b []byte) error {
	*w = nil
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "" {
			*w = nodeWarnings{s}
		}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err == nil {
		*w = ss
		return nil
	}
	*w = nodeWarnings{string(b)}
	return nil
}

// infoResult: btcd getinfo (the backend probe; Core has no getinfo).
type infoResult struct {
	Version int32 `json:"version"`
}

// networkInfoResult: Core getnetworkinfo.
type networkInfoResult struct {
	Version    int32        `json:"version"`
	SubVersion string       `json:"subversion"`
	Warnings   nodeWarnings `json:"warnings"`
}

// bestBlockResult: btcd getbestblock.
type bestBlockResult struct {
	Hash   string `json:"hash"`
	Height int32  `json:"height"`
}

// blockchainInfoResult: Core getblockchaininfo (Tip; height and hash are
// read atomically from one answer).
type blockchainInfoResult struct {
	Blocks        int32        `json:"blocks"`
	BestBlockHash string       `json:"bestblockhash"`
	Warnings      nodeWarnings `json:"warnings"`
}

// rawTxResult: getrawtransaction verbose=1 (both backends).
type rawTxResult struct {
	Hex       string `json:"hex"`
	BlockHash string `json:"blockhash"`
}

// blockHeaderResult: getblockheader verbose=true (both backends).
type blockHeaderResult struct {
	Height        int32 `json:"height"`
	Confirmations int64 `json:"confirmations"`
}

// txOutResult: gettxout (both backends).
type txOutResult struct {
	Confirmations int64   `json:"confirmations"`
	Value         float64 `json:"value"` // BTC
	ScriptPubKey  struct {
		Hex string `json:"hex"`
	} `json:"scriptPubKey"`
}

// spendingPrevOutResult: one element of gettxspendingprevout's array (both
// backends).
type spendingPrevOutResult struct {
	SpendingTxid string `json:"spendingtxid"`
}

// mempoolAcceptResult: one element of testmempoolaccept's array (both
// backends; reject-details only in newer Core, e.g. the recorded 29.99).
type mempoolAcceptResult struct {
	Allowed       bool   `json:"allowed"`
	RejectReason  string `json:"reject-reason"`
	RejectDetails string `json:"reject-details"`
}

// reason is the most specific refusal text the node gave.
func (m mempoolAcceptResult) reason() string {
	if m.RejectDetails != "" {
		return m.RejectDetails
	}
	return m.RejectReason
}

// smartFeeResult: Core estimatesmartfee.
type smartFeeResult struct {
	FeeRate *float64        `json:"feerate"` // BTC/kvB; absent without data
	Errors  json.RawMessage `json:"errors"`  // only logged
}
