// Package tor is onionswap's Tor layer: every participant is a v3 onion
// service and reaches the others only through Tor.
//
// One Config, two ways to get a Tor:
//
//   - ModeManaged starts our own tor process (the system binary, found
//     on PATH or at Config.TorPath) with its data directory inside the
//     node's. Bootstrap progress is logged and passed to OnBootstrap.
//     The tor is told to exit if our process dies (__OwningControllerProcess),
//     and a tor left behind by a killed predecessor is stopped before ours
//     starts (reap.go).
//   - ModeAttach uses a running tor through its control port or socket,
//     e.g. Debian's /run/tor/control with cookie authentication (the usual
//     Raspberry Pi setup), or a control password.
//
// TorTransport implements Transport: Listen publishes the node's onion
// service, whose ed25519 key persists in Config.KeyFile (same address
// after restarts); Dial goes through tor's SOCKS port with one circuit
// per remote peer. A health loop notices a dead tor or control connection
// at once and a hung one within HealthInterval, restarts or reconnects,
// and re-adds the service with the same key. ListenEphemeral adds
// short-lived services with fresh keys (a CoinJoin round's contact point,
// never the node's own address); they are not re-added after a restart
// but fail with ErrOnionLost. ListenAuthorized adds persistent services
// on keys of their own restricted by Tor v3 client authorization (the
// web dashboard: only holders of an x25519 key from GenerateClientAuth
// can read the descriptor); they are re-added after a restart like the
// node's own.
//
// Loopback implements Transport over plain 127.0.0.1 TCP for fast unit
// tests of the logic above the transport. Integration tests (build tag
// itest) and the demo run TorTransport on a private Tor network made of
// real tor processes on 127.0.0.1, package tor/tornet: nothing ever
// contacts the public Tor network from a test.
//
// github.com/cretz/bine v0.2.0 is used for the process and control
// protocol plumbing; its quirks are worked around in bine.go (start-up,
// control connection replacement, ADD_ONION), and the files that drive
// tor through it (attach, managed, session, events, listener, dialer,
// onionkey) call its control.Conn directly.
package tor
