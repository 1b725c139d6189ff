// Package chat holds the chat's integration tests (issue 13): real
// onionswap processes on a private Tor network (itest/cluster), talking
// directly over their onion services and through the pool's mailbox
// while one of them is offline, and a stranger's tor client misbehaving
// at them.
package chat
