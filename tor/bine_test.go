package tor

import (
	"errors"
	"testing"

	"github.com/cretz/bine/control"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name, raw        string
		severity, action string
		args             map[string]string
	}{
		{name: "quoted summary", raw: `NOTICE BOOTSTRAP PROGRESS=45 TAG=requesting_descriptors SUMMARY="Asking for relay descriptors"`,
			severity: "NOTICE", action: "BOOTSTRAP",
			args: map[string]string{"PROGRESS": "45", "TAG": "requesting_descriptors", "SUMMARY": "Asking for relay descriptors"}},
		{name: "escapes", raw: `WARN BOOTSTRAP WARNING="a \"b\" c\\d" HOST=x`,
			severity: "WARN", action: "BOOTSTRAP", args: map[string]string{"WARNING": `a "b" c\d`, "HOST": "x"}},
		{name: "no args", raw: "NOTICE CIRCUIT_ESTABLISHED", severity: "NOTICE", action: "CIRCUIT_ESTABLISHED", args: map[string]string{}},
		{name: "empty", raw: "", args: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := parseStatus(tc.raw)
			if ev.severity != tc.severity || ev.action != tc.action || len(ev.args) != len(tc.args) {
				t.Fatalf("%+v", ev)
			}
			for k, v := range tc.args {
				if ev.args[k] != v {
					t.Fatalf("%s = %q, want %q", k, ev.args[k], v)
				}
			}
		})
	}
}

func TestFirstTCPListener(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{name: "one", in: `"127.0.0.1:9050"`, want: "127.0.0.1:9050"},
		{name: "unix first", in: `"unix:/run/tor/socks" "127.0.0.1:9050"`, want: "127.0.0.1:9050"},
		{name: "unquoted", in: `127.0.0.1:41234`, want: "127.0.0.1:41234"},
		{name: "ipv6", in: `"[::1]:9050"`, want: "[::1]:9050"},
		{name: "only unix", in: `"unix:/run/tor/socks"`, err: true},
		{name: "none", in: ``, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := firstTCPListener(tc.in)
			if tc.err {
				if !errors.Is(err, ErrControl) {
					t.Fatalf("want ErrControl, got %q %v", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v", got, err)
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	ev := parseEvent(&control.Response{Reply: "HS_DESC UPLOADED abc UNKNOWN $AAAA~a0"})
	hs, ok := ev.(*control.HSDescEvent)
	if !ok || hs.Action != "UPLOADED" || hs.Address != "abc" {
		t.Fatalf("%#v", ev)
	}
	ev = parseEvent(&control.Response{Reply: `STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`})
	st, ok := ev.(*control.StatusEvent)
	if !ok || parseStatus(st.Raw).args["PROGRESS"] != "100" {
		t.Fatalf("%#v", ev)
	}
}

func TestParseOnionAddr(t *testing.T) {
	k, err := GenerateOnionKey()
	if err != nil {
		t.Fatal(err)
	}
	id := k.ServiceID()
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{name: "ok", in: id + ".onion:80", want: id + ".onion:80"},
		{name: "upper case", in: "X" + id[1:] + ".ONION:9735", err: id[0] != 'x'},
		{name: "no port", in: id + ".onion", err: true},
		{name: "port zero", in: id + ".onion:0", err: true},
		{name: "clearnet", in: "example.com:80", err: true},
		{name: "v2 length", in: "expyuzz4wqqyqhjn.onion:80", err: true},
		{name: "bad checksum", in: id[:55] + string("abcdefgh"[(int(id[55])+1)%8]) + ".onion:80", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOnionAddr(tc.in)
			if tc.err {
				if !errors.Is(err, ErrInvalidOnionAddress) {
					t.Fatalf("want ErrInvalidOnionAddress, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && got.String() != tc.want {
				t.Fatalf("got %s", got)
			}
		})
	}
}

func TestIsolatorCredentials(t *testing.T) {
	a, _ := newIsolator(false)
	b, _ := newIsolator(false)
	p1, _ := a.auth("peer1.onion:80")
	p1again, _ := a.auth("peer1.onion:80")
	p2, _ := a.auth("peer2.onion:80")
	other, _ := b.auth("peer1.onion:80")
	if *p1 != *p1again {
		t.Fatal("same peer, different credentials: no circuit reuse")
	}
	if p1.User == p2.User {
		t.Fatal("different peers share credentials")
	}
	if p1.User == other.User {
		t.Fatal("credentials do not depend on the per-process secret")
	}
	f, _ := newIsolator(true)
	x, _ := f.auth("peer1.onion:80")
	y, _ := f.auth("peer1.onion:80")
	if *x == *y {
		t.Fatal("fresh mode reused credentials")
	}
}

func TestMapDialError(t *testing.T) {
	tests := []struct {
		msg    string
		wantIs error
		code   byte
	}{
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error host unreachable", ErrOnionUnreachable, 0x04},
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error unknown code: 240", ErrOnionUnreachable, 0xF0},
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error unknown code: 246", ErrInvalidOnionAddress, 0xF6},
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error unknown code: 244", ErrClientAuth, 0xF4},
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error unknown code: 245", ErrClientAuth, 0xF5},
		{"socks connect tcp 127.0.0.1:9050->x.onion:80: unknown error connection refused", ErrSOCKS, 0x05},
		{"dial tcp 127.0.0.1:9050: connect: connection refused", ErrSOCKS, 0},
	}
	for _, tc := range tests {
		err := mapDialError("x.onion:80", errors.New(tc.msg))
		if !errors.Is(err, tc.wantIs) {
			t.Fatalf("%q: got %v", tc.msg, err)
		}
		var se *SOCKSError
		if errors.As(err, &se) != (tc.code != 0) || (se != nil && se.Code != tc.code) {
			t.Fatalf("%q: got %#v", tc.msg, se)
		}
	}
}
