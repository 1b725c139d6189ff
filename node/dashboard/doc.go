// Package dashboard is the node's web dashboard: a few server-rendered
// pages (status, wallet, swaps, offer book, maker, chat, CoinJoin,
// blacklist) over the node's own control API, live updates by
// server-sent events, and forms for the actions an operator takes
// (swap from an offer, publish or withdraw the offer, chat, CoinJoin,
// blacklist edits, receive and send).
//
// # How it talks to the node
//
// Every page reads and every action writes through the control API's
// router in process (control.NewLocalClient): the dashboard has no
// access of its own to the wallet or the services, and it shows nothing
// the CLI could not show. A page that needs a service the node does not
// run (the maker view on a taker) says so.
//
// # Security
//
// It listens on 127.0.0.1 only (the daemon refuses another address) and,
// optionally, as its own onion service restricted by Tor client
// authorization (tor.ListenAuthorized): a separate address, so the
// node's public onion does not reveal it, and a descriptor nobody
// without the client key can read.
//
//   - Login: the control cookie (DATADIR/control.cookie, readable only by
//     the node's user; a new one at every start) or the dashboard
//     password (argon2id hash in DATADIR/dashboard.password, set with
//     `onionswap dashboard password`). Compared in constant time; failed
//     logins are rate limited for all clients together, since over Tor
//     every client looks the same.
//   - Sessions: a random 256-bit token in an HttpOnly, SameSite=Strict
//     cookie; only its hash is kept; idle sessions expire.
//   - Cross-site requests: every state-changing request needs the
//     session's CSRF token (a hidden form field or the X-CSRF-Token
//     header), and net/http's CrossOriginProtection refuses requests a
//     browser marks cross-site (Sec-Fetch-Site, Origin).
//   - DNS rebinding: requests whose Host is not the dashboard's own
//     address (or its onion) are refused.
//   - Headers: a Content-Security-Policy that allows only the
//     dashboard's own scripts and styles (no inline script, nothing from
//     outside the machine: no CDN, no web fonts), no framing, no
//     referrer to other sites, no caching of pages.
package dashboard
