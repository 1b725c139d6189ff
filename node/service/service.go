// Package service is what one of a node's services is, and the inbound
// server that runs them all behind the node's one onion service.
//
// A daemon hosts a set of services (its role — maker, taker or directory —
// plus the pool, chat and CoinJoin) over ONE onion address and one tor.
// Each service is a package that implements Service; one that accepts
// peers also implements Inbound, and one with control endpoints
// Controlled. Adding a service is its package plus one registration in
// node/daemon.
//
// Inbound connections are dispatched by the type of their first message
// after the handshake: the service that owns that message's range
// (protocol/types.go) gets the connection for its whole life. A peer that
// wants two services opens two streams; Tor streams on one circuit are
// cheap, and it keeps each service's state machine on its own connection.
// Every node's Hello carries the feature bits of the services it runs, so
// a peer can tell before its first request whether we speak its service.
package service

import (
	"context"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/protocol"
)

// Service is one of a node's services. Start is called once, after the
// node's chain backend, wallet and tor are up, with a context that ends at
// Stop; it returns once the service serves (long work such as waiting for
// a bond's confirmation goes on in the background and shows in
// Readiness). Stop is idempotent and waits for every goroutine the
// service started.
type Service interface {
	// Name is the service's short name ("maker", "pool", ...): the key of
	// its readiness in `status` and of its log subsystem.
	Name() string
	Start(ctx context.Context) error
	Stop()
	// Readiness says whether the service does its job now and, when not,
	// what blocks it, in words an operator can act on.
	Readiness(ctx context.Context) Readiness
}

// Readiness of one service: Ready, or the Blocker that keeps it from
// being ready ("bond waits for 3 more confirmations", "no pool peer
// yet"). It is the control API's type, reported as is by `status`.
type Readiness = control.Readiness

// NotReady is a Readiness blocked by why.
func NotReady(why string) Readiness { return Readiness{Blocker: why} }

// ReadyNow is a ready Readiness.
var ReadyNow = Readiness{Ready: true}

// Inbound is a Service that accepts peer connections on the node's onion
// service.
type Inbound interface {
	Service
	// Feature is the Hello feature bit that advertises the service (odd:
	// optional for the peer, see protocol.FeatureBit).
	Feature() protocol.FeatureBit
	// Owns reports whether a connection opened with message type t is for
	// this service (normally: t lies in the service's type range).
	Owns(t protocol.MessageType) bool
	// ServeConn serves one handshaken connection whose first message is
	// first, until the connection or ctx ends. The server closes c after
	// ServeConn returns. ServeConn must answer every refusal with an
	// explicit protocol Error before returning.
	ServeConn(ctx context.Context, c *protocol.Conn, first protocol.Message)
}

// Activity is implemented by an Inbound service that can tell whether a
// connection carries work that must not be interrupted (a swap in
// progress). When the server is full it evicts connections without work
// first; it never evicts a busy one.
type Activity interface {
	Busy(c *protocol.Conn) bool
}

// Controlled is a Service with its own control endpoints (node/control):
// the daemon calls RegisterControl once, before Start.
type Controlled interface {
	RegisterControl(r *control.Router)
}

// Drainer is a service with work to finish while the node's peers are
// still connected: a maker's offer removal must reach the pool before the
// pool stops. When the node stops, it calls Drain on every service, the
// last started first, before it stops any of them, within DrainTimeout
// in all; a Drain that runs out of time gives up quietly.
type Drainer interface {
	Drain(ctx context.Context)
}

// DrainTimeout bounds all the drains of a stopping node: a removal's
// round trip on a Tor stream is about a second; systemd's stop timeout
// (90 s) is far above.
const DrainTimeout = 3 * time.Second
