package cluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// OutsideTransport starts a tor client of the test process's own on the
// private network (state under the cluster's directory, in name): how a
// test reaches a node as a stranger would, to misbehave at it.
func (c *Cluster) OutsideTransport(ctx context.Context, name string) (*tor.TorTransport, error) {
	return tor.NewTorTransport(ctx, tor.Config{Mode: tor.ModeManaged,
		DataDir: filepath.Join(c.Dir(), name), ExtraArgs: c.Tornet().ClientArgs()})
}

// Dialer reaches onion services (a tor transport).
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// Outsider is the test process as a pool peer of a node: a protocol
// handshake with the pool feature, then PoolHello with a made-up
// listening address (Claim, under which a ban is recorded), exactly as
// a pool node opens a connection.
type Outsider struct {
	Conn  *protocol.Conn
	Claim string
}

var outsiders atomic.Int32

// DialPool connects to target's pool through d as an Outsider.
func DialPool(ctx context.Context, d Dialer, target *Proc) (*Outsider, error) {
	nc, err := d.Dial(ctx, target.Onion())
	if err != nil {
		return nil, fmt.Errorf("outside dial of %s: %w", target.Name, err)
	}
	pc := protocol.NewConn(nc, protocol.ConnConfig{})
	hello := protocol.NewHello(protocol.Regtest, "itest-outsider")
	hello.Features = protocol.Features(nil).Set(protocol.FeaturePool)
	claim := fmt.Sprintf("outsider-%d.onion:80", outsiders.Add(1))
	if _, err := pc.HandshakeWith(ctx, hello, &protocol.PoolHello{ListenAddr: claim}); err != nil {
		pc.Close()
		return nil, fmt.Errorf("outside handshake with %s: %w", target.Name, err)
	}
	return &Outsider{Conn: pc, Claim: claim}, nil
}
