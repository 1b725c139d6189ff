// Package protocol is onionswap's wire protocol: the framing, the
// handshake, the messages of CoinSwap and the directory, and a framed
// connection type that every Tor stream speaks.
//
// Why it looks the way it does:
//
//   - Frames are [u32 length][u16 type][payload] (frame.go). The length is
//     checked against a global 1 MiB ceiling before anything is allocated,
//     then against the type's own MaxPayload, and the payload must decode
//     exactly (btcd wire.ReadMessage's order). Tor gives us an
//     authenticated, ordered byte stream but no message boundaries.
//   - Every variable-length field has a named bound (encoding.go) and a
//     decode error names message and field (*DecodeError), so a hostile
//     peer can neither make us allocate beyond the bounds nor produce a
//     vague error.
//   - Message types live in per-subsystem ranges of 256 with lnd's "it's
//     OK to be odd" rule (types.go): unknown odd types are skipped, unknown
//     even types end the connection. Later features add types without a
//     version bump; RegisterType is the registry.
//   - Bitcoin values use btcd's own serializations (wire.MsgTx,
//     wire.OutPoint, chainhash, btcec compressed keys, strict DER
//     signatures) so there is exactly one encoding of each.
//   - The handshake (Hello) exchanges version range, network, feature
//     bits and a nonce; nothing else is accepted before it, and every
//     refusal is an explicit Error message: a peer never faces a silent
//     close (Conn.reject).
//   - Conn (conn.go) owns deadlines (handshake, per-frame read after the
//     first byte, write, idle), ping/pong keep-alive and per-peer token
//     buckets for messages and bytes, all scaled for Tor.
//
// Golden byte vectors in testdata/ pin the wire format; every decoder is
// fuzzed with a decode → encode → decode round trip.
package protocol
