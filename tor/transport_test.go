package tor

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

func attachConfig(f *fakeTor) Config {
	return Config{
		Mode:           ModeAttach,
		ControlAddr:    f.addr(),
		HealthInterval: time.Hour, // tests that need the ping lower it
		Logger:         quietLogger(),
	}
}

func TestAttachListenPublish(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := attachConfig(f)
	cfg.KeyFile = filepath.Join(t.TempDir(), "onion.key")
	cfg.PoWDefense = true
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if st := tr.Status(); !st.Connected || st.SocksAddr != "127.0.0.1:9" || st.Mode != ModeAttach {
		t.Fatalf("status %+v", st)
	}
	l, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ol := l.(*OnionListener)
	if err := ol.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := LoadOnionKey(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := key.ServiceID() + ".onion:80"; l.Addr().String() != want {
		t.Fatalf("addr %s, want %s", l.Addr(), want)
	}
	var add string
	for _, c := range f.commands() {
		if strings.HasPrefix(c, "ADD_ONION") {
			add = c
		}
	}
	// v3 key, our virtual port mapped to our own local listener.
	if !strings.HasPrefix(add, "ADD_ONION ED25519-V3:") || !strings.Contains(add, " Port=80,127.0.0.1:") {
		t.Fatalf("ADD_ONION line: %q", add)
	}
	if _, err := tr.Listen(ctx); !errors.Is(err, ErrAlreadyListening) {
		t.Fatalf("second Listen: %v", err)
	}
	// Inbound streams reach Accept through the local listener.
	local, _, _ := strings.Cut(add[strings.Index(add, " Port=80,")+len(" Port=80,"):], " ")
	// The proof-of-work defence is asked for, and reported.
	if !strings.Contains(add, " MaxStreams=16") || !strings.Contains(add, "Flags=MaxStreamsCloseCircuit") {
		t.Fatalf("ADD_ONION without the per-circuit stream cap: %q", add)
	}
	if !strings.Contains(add, " PoWDefensesEnabled=1") || !tr.Status().PoWDefense {
		t.Fatalf("ADD_ONION without the PoW defence (%q), status %+v", add, tr.Status())
	}
	go func() {
		if c, err := net.Dial("tcp", local); err == nil {
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close")
	}
	if _, err := tr.Dial(ctx, key.ServiceID()+".onion:80"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
}

func TestAttachAuth(t *testing.T) {
	dir := t.TempDir()
	cookie := make([]byte, 32)
	for i := range cookie {
		cookie[i] = byte(i * 7)
	}
	cookieFile := filepath.Join(dir, "control.authcookie")
	if err := os.WriteFile(cookieFile, cookie, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		methods  string
		file     string
		serverCk []byte
		serverPw string
		password string
		wantErr  []string // empty: success
	}{
		{name: "null", methods: "NULL"},
		{name: "safecookie", methods: "COOKIE,SAFECOOKIE", file: cookieFile, serverCk: cookie},
		{name: "cookie mismatch", methods: "COOKIE,SAFECOOKIE", file: cookieFile, serverCk: make([]byte, 32),
			wantErr: []string{"authentication failed", "ServerHash"}},
		{name: "cookie unreadable", methods: "COOKIE,SAFECOOKIE", file: filepath.Join(dir, "missing"),
			wantErr: []string{"cannot read tor's auth cookie", "debian-tor"}},
		{name: "password", methods: "HASHEDPASSWORD", serverPw: "s3cret", password: "s3cret"},
		{name: "password preferred to an unreadable cookie", methods: "COOKIE,SAFECOOKIE,HASHEDPASSWORD",
			file: filepath.Join(dir, "missing"), serverPw: "s3cret", password: "s3cret"},
		{name: "wrong password", methods: "HASHEDPASSWORD", serverPw: "s3cret", password: "nope",
			wantErr: []string{"authentication failed", "515"}},
		{name: "password missing", methods: "HASHEDPASSWORD", serverPw: "s3cret",
			wantErr: []string{"wants a control password"}},
		{name: "no usable method", methods: "FUTURE", wantErr: []string{"no supported method"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testutil.LeakCheck(t)
			f := newFakeTor(t)
			f.set(func(f *fakeTor) {
				f.methods, f.cookieFile, f.cookie, f.password = tc.methods, tc.file, tc.serverCk, tc.serverPw
			})
			cfg := attachConfig(f)
			cfg.ControlPassword = tc.password
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tr, err := NewTorTransport(ctx, cfg)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tr.Close()
				return
			}
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("want ErrAuth, got %v", err)
			}
			wantErrContains(t, err, tc.wantErr...)
		})
	}
}

// TestControlErrors: every control-port failure gives a clear error, in
// bounded time, and leaves nothing running.
func TestControlErrors(t *testing.T) {
	closedPort := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name    string
		setup   func(f *fakeTor)
		addr    string
		listen  bool // the error comes from Listen
		wantIs  error
		wantMsg []string
	}{
		{name: "connection refused", addr: closedPort, wantIs: ErrControl, wantMsg: []string{"cannot connect", closedPort}},
		{name: "ADD_ONION refused", listen: true, wantIs: ErrControl, wantMsg: []string{"ADD_ONION", "512", "Bad arguments"},
			setup: func(f *fakeTor) {
				f.on["ADD_ONION"] = func(string) []string { return []string{"512 Bad arguments to ADD_ONION"} }
			}},
		{name: "no SOCKS port", wantIs: ErrControl, wantMsg: []string{"no TCP SocksPort"},
			setup: func(f *fakeTor) { f.socks = `"unix:/run/tor/socks"` }},
		{name: "GETINFO refused", wantIs: ErrControl, wantMsg: []string{"552", "status/bootstrap-phase"},
			setup: func(f *fakeTor) {
				f.on["GETINFO"] = func(a string) []string {
					if a == "status/bootstrap-phase" {
						return []string{`552 Unrecognized key "status/bootstrap-phase"`}
					}
					return nil
				}
			}},
		{name: "garbage reply", wantIs: ErrControl, wantMsg: []string{"PROTOCOLINFO"},
			setup: func(f *fakeTor) {
				f.on["PROTOCOLINFO"] = func(string) []string { return []string{"this is not tor"} }
			}},
		{name: "silent tor", wantIs: ErrControl, wantMsg: []string{"did not answer"},
			setup: func(f *fakeTor) {
				f.on["PROTOCOLINFO"] = func(string) []string { return []string{} }
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testutil.LeakCheck(t)
			f := newFakeTor(t)
			if tc.setup != nil {
				f.set(tc.setup)
			}
			cfg := attachConfig(f)
			if tc.addr != "" {
				cfg.ControlAddr = tc.addr
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			tr, err := NewTorTransport(ctx, cfg)
			if tc.listen {
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				_, err = tr.Listen(ctx)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("want %v, got %v", tc.wantIs, err)
			}
			wantErrContains(t, err, tc.wantMsg...)
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestNeverBootstraps(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	f.set(func(f *fakeTor) { f.bootstrap = `NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"` })
	var mu sync.Mutex
	var seen []BootstrapStatus
	cfg := attachConfig(f)
	cfg.BootstrapTimeout = 300 * time.Millisecond
	cfg.OnBootstrap = func(b BootstrapStatus) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, b)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.emit(`STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"`)
		f.emit(`STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED`)
	}()
	start := time.Now()
	_, err := NewTorTransport(context.Background(), cfg)
	if !errors.Is(err, ErrBootstrapTimeout) {
		t.Fatalf("want ErrBootstrapTimeout, got %v", err)
	}
	wantErrContains(t, err, "5%", "Connecting to a relay", "Connection refused")
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0].Progress != 0 || seen[len(seen)-1].Progress != 5 {
		t.Fatalf("progress reports %+v", seen)
	}
}

func TestPublishTimeoutThenLate(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	f.set(func(f *fakeTor) { f.autoUpload = false })
	cfg := attachConfig(f)
	cfg.PublishTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l, err := tr.Listen(ctx) // returns at once: publication is asynchronous
	if err != nil {
		t.Fatal(err)
	}
	ol := l.(*OnionListener)
	f.emit("HS_DESC UPLOAD " + ol.addr.ServiceID + " UNKNOWN $AAAA~a0 x")
	f.emit("HS_DESC FAILED " + ol.addr.ServiceID + " UNKNOWN $AAAA~a0 REASON=UPLOAD_REJECTED")
	err = ol.WaitPublished(ctx)
	if !errors.Is(err, ErrPublishTimeout) {
		t.Fatalf("want ErrPublishTimeout, got %v", err)
	}
	wantErrContains(t, err, "1 uploads attempted", "UPLOAD_REJECTED")
	f.emit("HS_DESC UPLOADED " + ol.addr.ServiceID + " UNKNOWN $AAAA~a0")
	testutil.Eventually(t, 2*time.Second, "late publication", testutil.Holds(func() bool { return ol.WaitPublished(ctx) == nil }))
}

// TestReconnectRepublish: the control connection drops (tor restarted);
// the health loop reconnects and re-adds the service with the same key.
func TestReconnectRepublish(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	cfg := attachConfig(f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.(*OnionListener).WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeTor) { f.autoUpload = false })
	f.dropAll()
	testutil.Eventually(t, 5*time.Second, "re-ADD_ONION", testutil.Holds(func() bool {
		var n int
		f.set(func(f *fakeTor) { n = len(f.addOnions) })
		return n == 2
	}))
	f.set(func(f *fakeTor) {
		if f.addOnions[0] != f.addOnions[1] {
			t.Error("re-published with a different key")
		}
	})
	// Waiters of the interrupted publication get the new outcome.
	f.emit("HS_DESC UPLOADED " + l.(*OnionListener).addr.ServiceID + " UNKNOWN $AAAA~a0")
	if err := l.(*OnionListener).WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if st := tr.Status(); st.Restarts != 1 || !st.Connected {
		t.Fatalf("status %+v", st)
	}
}

// TestHungTor: tor stops answering; the ping times out, the session is
// replaced once tor answers again.
func TestHungTor(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	cfg := attachConfig(f)
	cfg.HealthInterval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	f.set(func(f *fakeTor) { f.hang = true })
	testutil.Eventually(t, 5*time.Second, "hung session replaced", testutil.Holds(func() bool { return tr.Status().Restarts >= 1 }))
	f.set(func(f *fakeTor) { f.hang = false })
	testutil.Eventually(t, 5*time.Second, "recovery", testutil.Holds(func() bool { return tr.Status().Connected }))
	time.Sleep(3 * cfg.HealthInterval) // a ping sent while hung may still time out
	testutil.Eventually(t, 5*time.Second, "recovery", testutil.Holds(func() bool { return tr.Status().Connected }))
	r := tr.Status().Restarts
	time.Sleep(5 * cfg.HealthInterval)
	if st := tr.Status(); st.Restarts != r || !st.Connected {
		t.Fatalf("answering tor still replaced: %+v", st)
	}
}

func TestDialIsolationAndErrors(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	s := newFakeSOCKS(t)
	f.set(func(f *fakeTor) { f.socks = `"` + s.addr() + `" "unix:/run/tor/socks"` })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k1, _ := GenerateOnionKey()
	k2, _ := GenerateOnionKey()
	a1, a2 := k1.ServiceID()+".onion:80", k2.ServiceID()+".onion:80"

	for _, fresh := range []bool{false, true} {
		cfg := attachConfig(f)
		cfg.IsolateEachStream = fresh
		tr, err := NewTorTransport(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		before := len(s.requests())
		for _, a := range []string{a1, a1, strings.ToUpper(a2[:56]) + a2[56:]} {
			c, err := tr.Dial(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if c.RemoteAddr().String() != strings.ToLower(a) {
				t.Fatalf("RemoteAddr %s", c.RemoteAddr())
			}
			c.Close()
		}
		r := s.requests()[before:]
		if r[0].target != a1 || r[2].target != a2 {
			t.Fatalf("targets %+v", r)
		}
		same := r[0] == r[1]
		if same == fresh || r[0].user == r[2].user || r[0].user == "" {
			t.Fatalf("fresh=%v: credentials %+v", fresh, r)
		}
		tr.Close()
	}

	cfg := attachConfig(f)
	cfg.DialTimeout = 300 * time.Millisecond
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tests := []struct {
		name   string
		reply  byte
		silent bool
		addr   string
		wantIs error
		want   string
	}{
		{name: "descriptor not found", reply: 0xF0, wantIs: ErrOnionUnreachable, want: "descriptor not found"},
		{name: "intro timed out", reply: 0xF7, wantIs: ErrOnionUnreachable, want: "introduction timed out"},
		{name: "host unreachable", reply: 0x04, wantIs: ErrOnionUnreachable, want: "host unreachable"},
		{name: "tor says invalid", reply: 0xF6, wantIs: ErrInvalidOnionAddress, want: "0xf6"},
		{name: "client auth missing", reply: 0xF4, wantIs: ErrClientAuth, want: "missing client authorization (SOCKS reply 0xf4)"},
		{name: "client auth wrong", reply: 0xF5, wantIs: ErrClientAuth, want: "wrong client authorization"},
		{name: "general failure", reply: 0x01, wantIs: ErrSOCKS, want: "general SOCKS server failure"},
		{name: "no reply", silent: true, wantIs: ErrDialTimeout, want: "300ms"},
		{name: "not onion", addr: "example.com:80", wantIs: ErrInvalidOnionAddress},
		{name: "bad checksum", addr: strings.Repeat("a", 56) + ".onion:80", wantIs: ErrInvalidOnionAddress},
		{name: "no port", addr: k1.ServiceID() + ".onion", wantIs: ErrInvalidOnionAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.mu.Lock()
			s.reply, s.silent = tc.reply, tc.silent
			s.mu.Unlock()
			addr := tc.addr
			if addr == "" {
				addr = a1
			}
			start := time.Now()
			_, err := tr.Dial(ctx, addr)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("want %v, got %v", tc.wantIs, err)
			}
			if tc.want != "" {
				wantErrContains(t, err, tc.want)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

// TestListenWithoutPoW: a tor that does not know PoWDefensesEnabled over
// ADD_ONION (before 0.4.9) still gets the onion service, without the
// defence, and status says so.
func TestListenWithoutPoW(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	f.on["ADD_ONION"] = func(args string) []string {
		if strings.Contains(args, "PoWDefensesEnabled") {
			return []string{`512 Unrecognized argument "PoWDefensesEnabled"`}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := attachConfig(f)
	cfg.KeyFile = filepath.Join(t.TempDir(), "onion.key")
	cfg.PoWDefense = true
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l, err := tr.Listen(ctx)
	if err != nil {
		t.Fatalf("listen on a tor without PoW: %v", err)
	}
	if err := l.(*OnionListener).WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if tr.Status().PoWDefense {
		t.Fatal("status claims the PoW defence that tor refused")
	}
}
