//go:build itest

package tor

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// serveProtocol answers every stream on n's onion service with the framed
// protocol: handshake as a regtest node, then a ListReply for each
// ListRequest, until the peer goes away. It is what every onionswap role
// does with its streams, minus the role.
func (n *node) serveProtocol(t *testing.T) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := n.lis.Accept()
			if err != nil {
				return
			}
			n.wg.Add(1)
			go func(c net.Conn) {
				defer n.wg.Done()
				pc := protocol.NewConn(c, protocol.ConnConfig{Logger: quietLogger()})
				defer pc.Close()
				ctx, cancel := context.WithTimeout(context.Background(), itestDial)
				defer cancel()
				if _, err := pc.Handshake(ctx, protocol.NewHello(protocol.Regtest, "bob")); err != nil {
					return // refusals were already answered with an Error
				}
				for {
					msg, err := pc.Receive(ctx)
					if err != nil {
						return
					}
					if _, ok := msg.(*protocol.ListRequest); !ok {
						t.Errorf("server got %T, want ListRequest", msg)
						return
					}
					if err := pc.Send(ctx, &protocol.ListReply{}); err != nil {
						return
					}
				}
			}(c)
		}
	}()
}

// dialProtocol opens a framed connection to addr through n's tor, retrying
// while the descriptor is still propagating.
func (n *node) dialProtocol(t *testing.T, addr string, network protocol.Network) (*protocol.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itestDial)
	defer cancel()
	var c net.Conn
	var err error
	for {
		c, err = n.tr.Dial(ctx, addr)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: dial: %v", n.name, err)
	}
	pc := protocol.NewConn(c, protocol.ConnConfig{Logger: quietLogger()})
	if _, err := pc.Handshake(ctx, protocol.NewHello(network, n.name)); err != nil {
		pc.Close()
		return nil, err
	}
	return pc, nil
}

// TestProtocolOverOnion: framed protocol messages travel both ways between
// two onion services, and a refused handshake arrives as an explicit Error
// through Tor rather than a silent close.
func TestProtocolOverOnion(t *testing.T) {
	t.Parallel()
	var a, b *node
	var wg sync.WaitGroup
	wg.Go(func() { a = startNode(t, "alice", managedConfig(t, "alice"), false) })
	wg.Go(func() { b = startNode(t, "bob", managedConfig(t, "bob"), false) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	for _, n := range []*node{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), itestStart)
		l, err := n.tr.Listen(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: listen: %v", n.name, err)
		}
		n.lis = l.(*OnionListener)
		n.addr = l.Addr().String()
		n.serveProtocol(t)
		n.waitPublished(t)
	}

	exchange := func(from, to *node) {
		t.Helper()
		pc, err := from.dialProtocol(t, to.addr, protocol.Regtest)
		if err != nil {
			t.Fatalf("%s -> %s: handshake: %v", from.name, to.name, err)
		}
		defer pc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), itestDial)
		defer cancel()
		const rounds = 3
		for i := range rounds {
			if err := pc.Send(ctx, &protocol.ListRequest{}); err != nil {
				t.Fatalf("%s -> %s: send %d: %v", from.name, to.name, i, err)
			}
			msg, err := pc.Receive(ctx)
			if err != nil {
				t.Fatalf("%s -> %s: receive %d: %v", from.name, to.name, i, err)
			}
			if _, ok := msg.(*protocol.ListReply); !ok {
				t.Fatalf("%s -> %s: got %T, want ListReply", from.name, to.name, msg)
			}
		}
		st := pc.Stats()
		if st.MsgsSent < rounds || st.MsgsReceived < rounds {
			t.Fatalf("%s -> %s: stats %+v, want at least %d each way", from.name, to.name, st, rounds)
		}
	}
	exchange(a, b)
	exchange(b, a)

	// A testnet peer and a regtest node refuse each other through Tor with
	// a reason: whichever side reads the other's hello first reports the
	// network mismatch (locally, or as the peer's WrongNetwork Error).
	_, err := a.dialProtocol(t, b.addr, protocol.Testnet)
	var pe *protocol.PeerError
	wrongNet := errors.Is(err, protocol.ErrNetwork) || (errors.As(err, &pe) && pe.Code == protocol.CodeWrongNetwork)
	if !wrongNet {
		t.Fatalf("wrong-network handshake over Tor: got %v, want a network mismatch", err)
	}
}
