// Package control is the local control API of a running onionswap node:
// JSON over HTTP on a unix socket in the node's data directory, so that the
// CLI, tests and the demo can query and drive a daemon.
//
// # Security
//
// There is no TCP listener at all. The socket (DATADIR/control.sock) is mode
// 0600 inside the 0700 data directory, and every request must also carry the
// cookie that the daemon writes at each start to DATADIR/control.cookie (mode
// 0600, 32 random bytes in hex) as "Authorization: Bearer <cookie>". Only the
// user running the node can therefore talk to it: the socket's mode keeps
// other users out, the cookie keeps out processes that could reach a socket
// opened by mistake with a looser mode (or a socket path on a shared mount).
// The cookie is compared in constant time. Responses never carry secrets
// (no keys, mnemonic or preimages).
//
// # Endpoints (all under /v1)
//
//	GET  /v1/status              Status: role, network, onion address, tip, health, readiness
//	GET  /v1/wallet/balances     Balances by coin category
//	GET  /v1/wallet/coins        ?category=regular&all=1: coins (unspent only unless all=1)
//	POST /v1/wallet/address      AddressRequest → AddressReply
//	POST /v1/wallet/send         SendRequest → SendReply
//	GET  /v1/swaps               []SwapInfo
//	GET  /v1/swaps/{id}          SwapInfo
//	POST /v1/taker/swap          TakerSwapRequest → SwapReport (waits for the swap to finish)
//	POST /v1/taker/recover       RecoverReply (idempotent)
//	GET  /v1/maker/status        MakerStatus: bond, offer, reservations, registrations
//	GET  /v1/directory/entries   []DirectoryEntry (the directory role's own list)
//
// Errors are JSON {"error": "...", "code": "..."} with an HTTP status; the
// Client maps the code back to this package's sentinel errors (errors.Is).
package control
