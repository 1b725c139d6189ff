// Package swap is the CoinSwap engine shared by the maker and the taker
// (node/maker, node/taker): offer terms and the fee formula, the amount and
// reimbursement formulas, the timelock schedule with its named constants and
// their derivations, the validation of everything a counterparty sends
// (each check a specific error that maps to a protocol ErrorCode), the
// persisted per-swap records and phases (SQLite, committed before the action
// they enable), contract watching through the wallet's watcher, and the
// recovery engine (hashlock claims as CPFP children, timelock refunds as
// soon as CSV allows, idempotent broadcasts). Fault injection for tests
// (FaultPlan) is refused on any network but regtest.
//
// Route: taker T → M1 → … → Mn → T. Hop i (0..n) has sender S_i and
// receiver R_i; each hop has tx_count 2-of-2 funding outputs, each with one
// contract transaction (identical for both parties). The message flow and
// phases are described in node/maker and node/taker; the design is
// swap-design.md.
package swap
