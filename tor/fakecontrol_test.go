package tor

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/cretz/bine/torutil"
	"github.com/cretz/bine/torutil/ed25519"
)

// fakeTor is a scripted tor control port on 127.0.0.1 speaking the lines
// of the control protocol this package uses. Tests change its behaviour
// through the exported-by-convention fields (under mu) or override a
// command's reply with on[verb].
type fakeTor struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu          sync.Mutex
	methods     string // PROTOCOLINFO auth methods, e.g. "NULL"
	cookieFile  string
	cookie      []byte // what the fake checks against
	password    string
	bootstrap   string // value of status/bootstrap-phase
	socks       string // value of net/listeners/socks
	autoUpload  bool   // answer ADD_ONION with HS_DESC UPLOAD + UPLOADED events
	hang        bool   // stop answering the health ping (a hung tor)
	on          map[string]func(args string) []string
	conns       map[*fakeConn]bool
	log         []string // every command line received
	addOnions   []string // ADD_ONION key blobs, in order
	acceptCount int
}

type fakeConn struct {
	c      net.Conn
	mu     sync.Mutex
	w      *bufio.Writer
	events bool
	nonce  []byte // client nonce of AUTHCHALLENGE
	snonce []byte
}

func newFakeTor(t *testing.T) *fakeTor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTor{t: t, ln: ln, methods: "NULL", autoUpload: true,
		bootstrap: `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`,
		socks:     `"127.0.0.1:9"`, on: map[string]func(string) []string{}, conns: map[*fakeConn]bool{}}
	f.wg.Add(1)
	go f.acceptLoop()
	t.Cleanup(f.close)
	return f
}

func (f *fakeTor) addr() string { return f.ln.Addr().String() }

func (f *fakeTor) set(fn func(f *fakeTor)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeTor) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeTor) acceptLoop() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{c: c, w: bufio.NewWriter(c)}
		f.mu.Lock()
		f.conns[fc] = true
		f.acceptCount++
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(fc)
	}
}

// dropAll closes every connection, as a tor that died or restarted.
func (f *fakeTor) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.c.Close()
	}
}

func (f *fakeTor) close() {
	f.ln.Close()
	f.dropAll()
	f.wg.Wait()
}

// emit sends an asynchronous event line to every event connection.
func (f *fakeTor) emit(line string) {
	f.mu.Lock()
	var evs []*fakeConn
	for c := range f.conns {
		if c.events {
			evs = append(evs, c)
		}
	}
	f.mu.Unlock()
	for _, c := range evs {
		c.send("650 " + line)
	}
}

func (c *fakeConn) send(lines ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range lines {
		c.w.WriteString(l + "\r\n")
	}
	c.w.Flush()
}

func (f *fakeTor) serve(c *fakeConn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.c.Close()
	}()
	r := bufio.NewReader(c.c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, args, _ := strings.Cut(line, " ")
		f.mu.Lock()
		f.log = append(f.log, line)
		hang, override := f.hang, f.on[verb]
		f.mu.Unlock()
		if hang && line == "GETINFO version" {
			continue
		}
		if override != nil {
			if reply := override(args); reply != nil {
				c.send(reply...)
				continue
			}
		}
		reply, after := f.reply(c, verb, args)
		c.send(reply...)
		if after != nil {
			after()
		}
		if verb == "QUIT" {
			return
		}
	}
}

func (f *fakeTor) reply(c *fakeConn, verb, args string) (reply []string, after func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch verb {
	case "PROTOCOLINFO":
		auth := "250-AUTH METHODS=" + f.methods
		if f.cookieFile != "" {
			auth += fmt.Sprintf(" COOKIEFILE=%q", f.cookieFile)
		}
		return []string{"250-PROTOCOLINFO 1", auth, `250-VERSION Tor="0.4.9.11"`, "250 OK"}, nil
	case "AUTHCHALLENGE":
		parts := strings.Fields(args)
		c.nonce, _ = hex.DecodeString(parts[1])
		c.snonce = make([]byte, 32)
		for i := range c.snonce {
			c.snonce[i] = byte(i)
		}
		sh := cookieHMAC("Tor safe cookie authentication server-to-controller hash", f.cookie, c.nonce, c.snonce)
		return []string{fmt.Sprintf("250 AUTHCHALLENGE SERVERHASH=%X SERVERNONCE=%X", sh, c.snonce)}, nil
	case "AUTHENTICATE":
		ok := false
		switch {
		case strings.Contains(f.methods, "NULL"):
			ok = true
		case c.nonce != nil:
			want := cookieHMAC("Tor safe cookie authentication controller-to-server hash", f.cookie, c.nonce, c.snonce)
			ok = strings.EqualFold(args, hex.EncodeToString(want))
		case f.password != "":
			ok = args == hex.EncodeToString([]byte(f.password))
		}
		if !ok {
			return []string{"515 Authentication failed: Password did not match HashedControlPassword *or* authentication cookie."}, nil
		}
		return []string{"250 OK"}, nil
	case "SETEVENTS":
		c.events = args != ""
		return []string{"250 OK"}, nil
	case "GETINFO":
		var out []string
		for _, k := range strings.Fields(args) {
			switch k {
			case "status/bootstrap-phase":
				out = append(out, "250-"+k+"="+f.bootstrap)
			case "net/listeners/socks":
				out = append(out, "250-"+k+"="+f.socks)
			case "version":
				out = append(out, "250-version=0.4.9.11")
			default:
				return []string{`552 Unrecognized key "` + k + `"`}, nil
			}
		}
		return append(out, "250 OK"), nil
	case "GETCONF":
		return []string{"250 DisableNetwork=0"}, nil
	case "ADD_ONION":
		keyArg, _, _ := strings.Cut(args, " ")
		blob, ok := strings.CutPrefix(keyArg, "ED25519-V3:")
		if !ok {
			return []string{"513 Invalid key type"}, nil
		}
		b, err := base64.StdEncoding.DecodeString(blob)
		if err != nil || len(b) != 64 {
			return []string{"513 Failed to decode ED25519-V3 key"}, nil
		}
		if reply := fakeCheckClientAuth(args); reply != "" {
			return []string{reply}, nil
		}
		f.addOnions = append(f.addOnions, blob)
		id := torutil.OnionServiceIDFromPrivateKey(ed25519.PrivateKey(b).KeyPair())
		if f.autoUpload {
			after = func() {
				f.emit("HS_DESC UPLOAD " + id + " UNKNOWN $AAAA~a0 descid HSDIR_INDEX=00")
				f.emit("HS_DESC UPLOADED " + id + " UNKNOWN $AAAA~a0")
			}
		}
		return []string{"250-ServiceID=" + id, "250 OK"}, after
	case "DEL_ONION", "SIGNAL":
		return []string{"250 OK"}, nil
	case "QUIT":
		return []string{"250 closing connection"}, nil
	}
	return []string{`510 Unrecognized command "` + verb + `"`}, nil
}

func cookieHMAC(key string, cookie, cnonce, snonce []byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(cookie)
	m.Write(cnonce)
	m.Write(snonce)
	return m.Sum(nil)
}

// fakeCheckClientAuth refuses ADD_ONION's client authorization arguments
// as tor (control_cmd.c) does: ClientAuthV3 only with Flags V3Auth and
// vice versa, each key 52 base32 characters.
func fakeCheckClientAuth(args string) string {
	v3auth, clients := false, 0
	for _, a := range strings.Fields(args) {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "Flags":
			for _, fl := range strings.Split(v, ",") {
				v3auth = v3auth || fl == "V3Auth"
			}
		case "ClientAuthV3":
			if _, err := ParseClientAuthKey(v); err != nil || len(v) != 52 {
				return "512 Cannot decode v3 client auth key"
			}
			clients++
		}
	}
	switch {
	case !v3auth && clients > 0:
		return "512 No auth type specified"
	case v3auth && clients == 0:
		return "512 No auth clients specified"
	}
	return ""
}
