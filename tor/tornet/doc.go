// Package tornet runs a private Tor network on 127.0.0.1 for integration
// tests and the offline demo: 3 directory authorities (also the only
// HSDirs and directory caches) and 3 relays (one exit), built from real
// tor processes as Tor's chutney does, with the settings measured in
// shared/notes/tornet.md.
//
// Start generates the authority keys (tor-gencert and tor
// --list-fingerprint, in parallel), writes every torrc, starts the
// authorities on the voting phase and then the relays on a block of free
// loopback ports reserved with a machine-wide lock (so networks of test
// packages running in parallel never collide), and returns once the
// consensus at every authority lists every node with its flags. Only then
// may clients start: ClientArgs (tor command-line options, e.g. for
// tor.Config.ExtraArgs) or DIR/client.torrc make a tor join this network.
//
// Every torrc written here carries TestingTorNetwork 1 and the private
// DirAuthority lines, so no tor started from this package can contact the
// public Tor network. Stop stops every process by PID; call it in a defer
// and in the SIGINT/SIGTERM handler. Run is the `onionswap tornet` command.
package tornet
