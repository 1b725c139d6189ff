package tor

// bine.go is the only file that touches cretz/bine v0.2.0 directly. Every
// quirk of that version is handled here, once:
//
//   - Start returns a non-nil *Tor together with an error (after having
//     tried Close): on error we drop it and stop the process ourselves.
//   - Start's ctx is the lifetime of the process (exec.CommandContext), not
//     a start deadline: we pass the session's lifetime context.
//   - Without DataDir bine makes a temp dir under "." and without
//     TorrcFile a new torrc-* temp file per start: we always pass both.
//   - Start polls the control-port file for only 2 s; our process wrapper
//     (managed.go) returns from Start only once tor has written it.
//   - EnableNetwork swallows a SETCONF error: we read DisableNetwork back.
//   - ListenConf: never nil (Listen panics), always Version3 (v2 onions are
//     refused by tor >= 0.4.6: 513 "Invalid key type"), always NoWait (its
//     wait blocks on bootstrap and publication with no deadline of its own;
//     we wait for HS_DESC UPLOADED on our event connection instead).
//   - Conn.Authenticate prefers SAFECOOKIE even when the cookie is not
//     readable and a password was configured: we choose the method.
//   - Conn.Close sends QUIT and waits for the reply, which hangs on a hung
//     tor, and its reads have no deadline: we dial every control connection
//     ourselves and keep the net.Conn for deadlines and hard closes.
//   - Events are read by whoever holds the read lock, and listener channels
//     block the reader when full: events get their own connection, read by
//     one goroutine of ours (events.go), never bine's HandleEvents.
//   - ParseStatusEvent splits quoted values at spaces (SUMMARY="Loading
//     relay descriptors" becomes `"Loading`): parseStatus does it right.
//   - The Dialer runs Dial in a goroutine that outlives ctx and does not
//     check for an empty SOCKS address: we build the SOCKS5 dialer with
//     golang.org/x/net/proxy ourselves (dialer.go).

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/process"
	bine "github.com/cretz/bine/tor"
	"github.com/cretz/bine/torutil"
	"github.com/cretz/bine/torutil/ed25519"
)

// controlTimeout bounds one control-port command (or the connect and
// authentication of a control connection). Tor answers in milliseconds;
// 30 s only trips on a hung or stopped tor, which is then treated as dead.
const controlTimeout = 30 * time.Second

// startBineTor starts tor through bine. procCtx is the process lifetime.
func startBineTor(procCtx context.Context, creator process.Creator, dataDir, torrc string, args []string) (*bine.Tor, error) {
	t, err := bine.Start(procCtx, &bine.StartConf{
		ProcessCreator: creator,
		DataDir:        dataDir,
		TorrcFile:      torrc,
		// Network stays disabled until our event connection listens, so
		// no bootstrap progress is missed.
		EnableNetwork: false,
		// Our own SocksPort (with ExtendedErrors) comes in args.
		NoAutoSocksPort: true,
		ExtraArgs:       args,
	})
	if err != nil {
		return nil, fmt.Errorf("tor: starting tor: %w", err)
	}
	return t, nil
}

// replaceControl swaps bine's own control connection of a started tor for
// one of ours (which has deadlines): bine's is closed while tor is fresh
// and answers QUIT at once.
func replaceControl(t *bine.Tor, conn *control.Conn) {
	if t.Control != nil {
		_ = t.Control.Close()
	}
	t.Control = conn
}

// attachedTor wraps a control connection to a tor we did not start. bine
// never stops that tor: StopProcessOnClose is false and Process is nil.
func attachedTor(conn *control.Conn) *bine.Tor {
	return &bine.Tor{Control: conn, StopProcessOnClose: false}
}

// enableNetwork clears DisableNetwork and checks that it really is 0.
func enableNetwork(ctx context.Context, t *bine.Tor) error {
	if err := t.EnableNetwork(ctx, false); err != nil {
		return controlErr("enable network", err)
	}
	vals, err := t.Control.GetConf("DisableNetwork")
	if err != nil {
		return controlErr("GETCONF DisableNetwork", err)
	}
	if len(vals) != 1 || vals[0].Val != "0" {
		return fmt.Errorf("%w: DisableNetwork is still set after enabling the network (%v)", ErrControl, vals)
	}
	return nil
}

// addOnion creates the ephemeral v3 onion service for key, mapping the
// virtual port to local. It does not wait for publication. The service
// lives as long as the control connection of t.
//
// It asks for tor's proof-of-work defence (prop 327:
// PoWDefensesEnabled, tor ≥ 0.4.9 through ADD_ONION), which makes a
// flood of introductions cost the flooder CPU while honest clients only
// solve puzzles under attack; a tor that does not know the keyword is
// asked again without it. pow reports which one served.
//
// With clientAuth, the service is restricted by v3 client authorization:
// Flags gets V3Auth and each key a ClientAuthV3=<base32> argument (tor
// refuses either without the other: "No auth type specified", "No auth
// clients specified").
//
// The command is sent by hand rather than through bine's Listen, which
// has no way to pass these keywords.
func addOnion(ctx context.Context, t *bine.Tor, key ed25519.KeyPair, port int, local net.Listener, wantPoW bool, clientAuth []ClientAuthKey) (id string, pow bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	target := local.Addr().String()
	flags := "MaxStreamsCloseCircuit"
	if len(clientAuth) > 0 {
		flags += ",V3Auth"
	}
	base := "ADD_ONION " + string(control.KeyTypeED25519V3) + ":" + (&control.ED25519Key{KeyPair: key}).Blob() +
		" Flags=" + flags + " MaxStreams=" + strconv.Itoa(MaxStreamsPerCircuit) +
		" Port=" + strconv.Itoa(port) + "," + target
	for _, k := range clientAuth {
		base += " ClientAuthV3=" + k.String()
	}
	var resp *control.Response
	if wantPoW {
		resp, err = t.Control.SendRequest("%s %s", base, powKeywords)
		pow = err == nil
	}
	if !wantPoW || (err != nil && unknownKeyword(err)) {
		resp, err = t.Control.SendRequest("%s", base)
	}
	if err != nil {
		return "", false, controlErr("ADD_ONION", err)
	}
	for _, data := range resp.Data {
		if v, ok := strings.CutPrefix(data, "ServiceID="); ok {
			id = v
		}
	}
	if want := torutil.OnionServiceIDFromPrivateKey(key); id != want {
		return "", false, fmt.Errorf("%w: ADD_ONION returned service %q, want %q", ErrControl, id, want)
	}
	return id, pow, nil
}

// MaxStreamsPerCircuit caps the streams one client circuit may hold open
// to our service; a circuit that asks for more is closed
// (MaxStreamsCloseCircuit). Streams on an existing circuit cost a flooder
// nothing, circuits cost it a rendezvous (and PoW under attack). An
// honest peer holds one stream per service it uses (swap, pool, chat,
// CoinJoin) plus a re-dial or two: 16 is several times that.
const MaxStreamsPerCircuit = 16

// powKeywords turn on the proof-of-work defence with tor's default queue
// (rate 250/s, burst 2500 introductions: far above what a swap node
// serves, so it only bites under a flood).
const powKeywords = "PoWDefensesEnabled=1"

// unknownKeyword: tor refused an ADD_ONION argument it does not know
// (512/513 from a tor without prop 327 over the control port).
func unknownKeyword(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code == 512 || te.Code == 513
	}
	msg := err.Error()
	return strings.Contains(msg, "PoW") || strings.Contains(msg, "nrecognized")
}

// dialControl connects and authenticates a control connection to addr:
// "host:port", "unix:/path" or "/path". The returned net.Conn is the one
// under the control.Conn, for deadlines and hard closes.
func dialControl(ctx context.Context, addr, password string) (*control.Conn, net.Conn, error) {
	network, address := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", p
	} else if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: cannot connect to tor's control port %s (is tor running with ControlPort or ControlSocket?): %w", ErrControl, addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	conn := control.NewConn(textproto.NewConn(raw))
	if err := authenticate(conn, password); err != nil {
		raw.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil, fmt.Errorf("%w: tor at %s did not answer in time: %w", ErrControl, addr, err)
		}
		return nil, nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return conn, raw, nil
}

// authenticate picks the method: NULL if offered; the password if one is
// configured and HASHEDPASSWORD is offered; else SAFECOOKIE with the cookie
// file PROTOCOLINFO names.
func authenticate(conn *control.Conn, password string) error {
	pi, err := conn.ProtocolInfo()
	if err != nil {
		return controlErr("PROTOCOLINFO", err)
	}
	switch {
	case pi.HasAuthMethod("NULL"):
	case password != "" && pi.HasAuthMethod("HASHEDPASSWORD"):
		if _, err := conn.SendRequest("AUTHENTICATE %s", hex.EncodeToString([]byte(password))); err != nil {
			return fmt.Errorf("%w: password rejected: %w", ErrAuth, err)
		}
		conn.Authenticated = true
		return nil
	case pi.HasAuthMethod("SAFECOOKIE"):
		if _, err := os.ReadFile(pi.CookieFile); err != nil {
			return fmt.Errorf("%w: cannot read tor's auth cookie %q: %w (add this user to the cookie's group, "+
				"on Debian `sudo adduser $USER debian-tor` and log in again, or configure a control password)",
				ErrAuth, pi.CookieFile, err)
		}
	case pi.HasAuthMethod("HASHEDPASSWORD"):
		return fmt.Errorf("%w: tor wants a control password and none is configured", ErrAuth)
	default:
		return fmt.Errorf("%w: no supported method offered (methods %v)", ErrAuth, pi.AuthMethods)
	}
	if err := conn.Authenticate(password); err != nil {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return nil
}

// getInfo runs GETINFO key and returns its single-line value, raw (bine's
// GetInfo unquotes values, which mangles lists of quoted strings).
func getInfo(conn *control.Conn, key string) (string, error) {
	resp, err := conn.SendRequest("GETINFO %s", key)
	if err != nil {
		return "", controlErr("GETINFO "+key, err)
	}
	for _, d := range resp.Data {
		if v, ok := strings.CutPrefix(d, key+"="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: GETINFO %s: no value in reply %q", ErrControl, key, resp.RawLines)
}

// firstTCPListener picks the first TCP address of a GETINFO
// net/listeners/socks value such as `"127.0.0.1:9050" "unix:/run/tor/socks"`.
func firstTCPListener(v string) (string, error) {
	for _, f := range strings.Fields(v) {
		f = strings.Trim(f, `"`)
		if f == "" || strings.HasPrefix(f, "unix:") {
			continue
		}
		if _, _, err := net.SplitHostPort(f); err == nil {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: tor has no TCP SocksPort (net/listeners/socks = %q)", ErrControl, v)
}

// parseEvent splits an asynchronous reply into its event code and parsed
// event, as bine does internally for its listeners.
func parseEvent(resp *control.Response) control.Event {
	var code, data string
	var lines []string
	switch {
	case len(resp.Data) == 1:
		if i := strings.IndexAny(resp.Data[0], " \r"); i != -1 {
			code, data = resp.Data[0][:i], strings.TrimLeft(resp.Data[0][i:], " \r\n")
		} else {
			code = resp.Data[0]
		}
	case len(resp.Data) > 1:
		code, lines = resp.Data[0], resp.Data[1:]
	default:
		code, data, _ = torutil.PartitionString(resp.Reply, ' ')
	}
	return control.ParseEvent(control.EventCode(code), data, lines)
}

// controlErr wraps a failed control command with ErrControl and, for tor's
// own replies, the status code and text.
func controlErr(op string, err error) error {
	if errors.Is(err, ErrControl) || errors.Is(err, ErrAuth) {
		return err
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %s: tor replied %d %s", ErrControl, op, te.Code, te.Msg)
	}
	return fmt.Errorf("%w: %s: %w", ErrControl, op, err)
}

// statusEvent is a STATUS_CLIENT/GENERAL/SERVER event or the value of
// GETINFO status/bootstrap-phase: "NOTICE BOOTSTRAP PROGRESS=45 TAG=x SUMMARY=\"a b\"".
type statusEvent struct {
	severity, action string
	args             map[string]string
}

// parseStatus parses a status line, honouring quoted values with escapes.
func parseStatus(raw string) statusEvent {
	ev := statusEvent{args: map[string]string{}}
	var toks []string
	for raw = strings.TrimSpace(raw); raw != ""; raw = strings.TrimLeft(raw, " ") {
		var tok strings.Builder
		quoted, esc := false, false
		i := 0
	scan:
		for ; i < len(raw); i++ {
			ch := raw[i]
			switch {
			case esc:
				tok.WriteByte(ch)
				esc = false
			case quoted && ch == '\\':
				esc = true
			case ch == '"':
				quoted = !quoted
			case ch == ' ' && !quoted:
				break scan
			default:
				tok.WriteByte(ch)
			}
		}
		toks = append(toks, tok.String())
		raw = raw[i:]
	}
	for i, t := range toks {
		switch i {
		case 0:
			ev.severity = t
		case 1:
			ev.action = t
		default:
			if k, v, ok := strings.Cut(t, "="); ok {
				ev.args[k] = v
			}
		}
	}
	return ev
}
