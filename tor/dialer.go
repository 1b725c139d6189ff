package tor

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cretz/bine/torutil"
	"golang.org/x/net/proxy"
)

// socksConnectTimeout bounds the TCP connect to tor's own SOCKS port on
// loopback, which is instant unless tor is hung.
const socksConnectTimeout = 10 * time.Second

// isolator hands out SOCKS credentials. Tor (IsolateSOCKSAuth, on by
// default) never lets streams with different credentials share a circuit,
// so deriving them from the peer keeps each peer on its own circuit (and
// reuses it for that peer), and unrelated peers can never be linked by a
// shared circuit. The per-process secret keeps the credentials, which tor
// may log, from naming the peer.
type isolator struct {
	secret [32]byte
	fresh  bool // new credentials per stream
}

func newIsolator(fresh bool) (*isolator, error) {
	i := &isolator{fresh: fresh}
	if _, err := rand.Read(i.secret[:]); err != nil {
		return nil, fmt.Errorf("tor: isolation secret: %w", err)
	}
	return i, nil
}

func (i *isolator) auth(peer string) (*proxy.Auth, error) {
	var sum []byte
	if i.fresh {
		sum = make([]byte, 16)
		if _, err := rand.Read(sum); err != nil {
			return nil, err
		}
	} else {
		m := hmac.New(sha256.New, i.secret[:])
		m.Write([]byte("onionswap socks isolation\x00" + peer))
		sum = m.Sum(nil)
	}
	return &proxy.Auth{User: hex.EncodeToString(sum[:8]), Password: hex.EncodeToString(sum[8:16])}, nil
}

// OnionAddr is a "<service id>.onion:<port>" address.
type OnionAddr struct {
	ServiceID string
	Port      int
}

func (a OnionAddr) Network() string { return "tcp" }
func (a OnionAddr) String() string {
	return net.JoinHostPort(a.ServiceID+".onion", strconv.Itoa(a.Port))
}

// ParseOnionAddr checks that addr is a v3 onion address with a port
// (version byte and checksum included) and returns it normalised.
func ParseOnionAddr(addr string) (OnionAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return OnionAddr{}, fmt.Errorf("%w: %q: %v", ErrInvalidOnionAddress, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return OnionAddr{}, fmt.Errorf("%w: %q: bad port", ErrInvalidOnionAddress, addr)
	}
	id, ok := strings.CutSuffix(strings.ToLower(host), ".onion")
	if !ok || len(id) != 56 {
		return OnionAddr{}, fmt.Errorf("%w: %q: want <56 base32 chars>.onion", ErrInvalidOnionAddress, addr)
	}
	if _, err := torutil.PublicKeyFromV3OnionServiceID(id); err != nil {
		return OnionAddr{}, fmt.Errorf("%w: %q: %v", ErrInvalidOnionAddress, addr, err)
	}
	return OnionAddr{ServiceID: id, Port: port}, nil
}

// dialSOCKS opens a stream to target through tor's SOCKS5 port. ctx
// bounds the whole dial including tor's circuit building.
func dialSOCKS(ctx context.Context, socksAddr, target string, auth *proxy.Auth) (net.Conn, error) {
	d, err := proxy.SOCKS5("tcp", socksAddr, auth, &net.Dialer{Timeout: socksConnectTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSOCKS, err)
	}
	return d.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
}

// onionConn reports the onion address as its remote address, instead of
// tor's SOCKS port, so logs and per-peer logic see the peer.
type onionConn struct {
	net.Conn
	remote OnionAddr
}

func (c *onionConn) RemoteAddr() net.Addr { return c.remote }

// SOCKSError is a failure reply from tor's SOCKS port.
type SOCKSError struct {
	Code   byte
	Target string
}

// socksReplies: RFC 1928 codes and tor's ExtendedErrors (tor's
// socks-extensions.txt), as x/net/proxy names them in its error text.
var socksReplies = map[byte]string{
	0x01: "general SOCKS server failure",
	0x02: "connection not allowed by ruleset",
	0x03: "network unreachable",
	0x04: "host unreachable",
	0x05: "connection refused",
	0x06: "TTL expired",
	0x07: "command not supported",
	0x08: "address type not supported",
	0xF0: "onion service descriptor not found",
	0xF1: "onion service descriptor invalid",
	0xF2: "onion service introduction failed",
	0xF3: "onion service rendezvous failed",
	0xF4: "onion service missing client authorization",
	0xF5: "onion service wrong client authorization",
	0xF6: "invalid onion service address",
	0xF7: "onion service introduction timed out",
}

func (e *SOCKSError) Error() string {
	name := socksReplies[e.Code]
	name = cmp.Or(name, "unknown reply")
	return fmt.Sprintf("tor could not connect to %s: %s (SOCKS reply %#02x)", ShortAddr(e.Target), name, e.Code)
}

// ShortAddr shortens a peer's onion address for errors and logs: enough
// of it to tell peers apart, not enough to hand the address to whoever
// reads the log (an operator's logs must not list who it talks to).
// Anything else is returned as is.
func ShortAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	name, ok := strings.CutSuffix(host, ".onion")
	if !ok || len(name) <= 8 {
		return addr
	}
	short := name[:8] + "….onion"
	if port != "" {
		short += ":" + port
	}
	return short
}

// Unwrap classifies the reply: the onion-specific codes and "host
// unreachable" (what tor says without ExtendedErrors) and "TTL expired"
// (tor's timeout) mean the service cannot be reached now; the client
// authorization codes mean it cannot be reached without a key.
func (e *SOCKSError) Unwrap() error {
	switch e.Code {
	case 0x04, 0x06, 0xF0, 0xF1, 0xF2, 0xF3, 0xF7:
		return ErrOnionUnreachable
	case 0xF4, 0xF5:
		return ErrClientAuth
	case 0xF6:
		return ErrInvalidOnionAddress
	default:
		return ErrSOCKS
	}
}

// mapDialError turns an x/net/proxy error into ours. x/net only exposes
// the reply as text ("unknown error host unreachable", "unknown error
// unknown code: 240"), so the code is recovered from that text.
func mapDialError(target string, err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "unknown error "); i >= 0 {
		text := msg[i+len("unknown error "):]
		if n, ok := strings.CutPrefix(text, "unknown code: "); ok {
			if c, perr := strconv.Atoi(n); perr == nil && c > 0 && c < 256 {
				return &SOCKSError{Code: byte(c), Target: target}
			}
		}
		for code, name := range socksReplies {
			if code < 0xF0 && text == name {
				return &SOCKSError{Code: code, Target: target}
			}
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: dial %s: %w", ErrSOCKS, ShortAddr(target), err)
}
