package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/tor"
)

// testOnion is a valid v3 onion address.
var testOnion = func() string {
	k, err := tor.GenerateOnionKey()
	if err != nil {
		panic(err)
	}
	return k.ServiceID() + ".onion:80"
}()

// validConfig is a valid regtest Config of role.
func validConfig(t *testing.T, role string) Config {
	c := NewConfig(role)
	c.DataDir = t.TempDir()
	c.Network = "regtest"
	c.RPC = RPCConfig{Host: "127.0.0.1:18443", User: "u", Pass: "p", NoTLS: true}
	return c
}

// The table of flag-level cases lives with the flags, in cmd/onionswap
// (TestConfigValidate there): these are the Config-level rules.

func TestNewConfigDefaults(t *testing.T) {
	c := NewConfig(RoleDirectory)
	if c.Tor.Mode != "managed" || c.LogFormat != "json" || c.LogStderr != "text" || c.LogLevel != "info" ||
		c.Network != "mainnet" || c.DataDir != DefaultDataDir() || c.LogMaxMB != DefaultLogMaxMB || c.LogKeep != DefaultLogKeep {
		t.Errorf("defaults: %+v", c)
	}
	if c.Maker != (MakerConfig{}) {
		t.Errorf("a directory has maker settings: %+v", c.Maker)
	}
	m := NewConfig(RoleMaker).Maker
	if m.BaseFee != DefaultBaseFee || m.AmountFeePPB != DefaultAmountFeePPB || m.TimeFeePPB != DefaultTimeFeePPB || m.BondAmount != DefaultBondAmount {
		t.Errorf("maker defaults: %+v", m)
	}
	c = validConfig(t, RoleDirectory)
	c.DataDir = "rel/dir"
	c.RPC.Host = ""
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.DataDir) || c.RPC.Host != "127.0.0.1:18443" || c.HealthInterval != DefaultHealthInterval {
		t.Errorf("derived defaults: datadir %q, rpc host %q, health %s", c.DataDir, c.RPC.Host, c.HealthInterval)
	}
}

// TestNeedMakers: `taker run` (NeedMakers) without a directory is refused
// before anything starts, naming the flag; a taker that only recovers or
// lists its swaps needs none.
func TestNeedMakers(t *testing.T) {
	c := validConfig(t, RoleTaker)
	if err := c.Validate(); err != nil {
		t.Fatalf("recovering taker: %v", err)
	}
	c.NeedMakers = true
	err := c.Validate()
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--directory") {
		t.Fatalf("taker run without directory: %v", err)
	}
	c.Directories = []string{testOnion}
	if err := c.Validate(); err != nil {
		t.Fatalf("with a directory: %v", err)
	}
}

func TestPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          string
		wantErr       bool
	}{
		{"first line", "correct horse\nsecond\n", "correct horse", false},
		{"crlf", "pw\r\n", "pw", false},
		{"no newline", "pw", "pw", false},
		{"empty", "", "", true},
		{"empty first line", "\npw\n", "", true},
		{"too large", strings.Repeat("x", MaxPassphraseFile+1), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(p, []byte(tc.content), 0o600)
			c := &Config{PassphraseFile: p}
			got, err := c.Passphrase()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Fatalf("error leaks the file content: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestTornetClientArgs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "client.torrc"), []byte("TestingTorNetwork 1\n# c\n\nDirAuthority a0 orport=5000 no-v2 v3ident=AB 127.0.0.1:5100 CD\n"), 0o600)
	got, err := TornetClientArgs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--TestingTorNetwork", "1", "--DirAuthority", "a0 orport=5000 no-v2 v3ident=AB 127.0.0.1:5100 CD"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestDataDirMode(t *testing.T) {
	d := filepath.Join(t.TempDir(), "node")
	if err := EnsureDataDir(d); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(d)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %#o", fi.Mode().Perm())
	}
	os.Chmod(d, 0o755)
	if err := EnsureDataDir(d); err == nil {
		t.Fatal("a world-readable data dir was accepted")
	}
}

// TestNoTLSLoopbackOnly: --rpc-notls accepts only a literal loopback IP or
// the name localhost. A name that merely starts with "127." is refused by
// Validate itself, before any lookup (the .invalid names below could not
// be resolved anyway: the error is the refusal, not a DNS failure).
func TestNoTLSLoopbackOnly(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8332", true},
		{"127.1.2.3:8332", true},
		{"[::1]:8332", true},
		{"localhost:8332", true},
		{"LOCALHOST:8332", true},
		{"127.0.0.1", true},
		{"127.attacker.invalid:8332", false},
		{"127.0.0.1.invalid:8332", false},
		{"localhost.invalid:8332", false},
		{"[::ffff:127.0.0.1]:8332", true},
		{"10.0.0.2:8332", false},
		{"[fe80::1]:8332", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			c := Config{Role: RoleWallet, DataDir: t.TempDir(), Network: "regtest", LogLevel: "info",
				LogFormat: "json", LogStderr: "off", RPC: RPCConfig{Host: tc.host, User: "u", Pass: "p", NoTLS: true}}
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "only loopback hosts")) {
				t.Fatalf("err = %v, want the loopback refusal", err)
			}
		})
	}
}

// TestDashboardConfig: the dashboard listens on loopback only, on the
// network's port by default; off turns it off (and its onion with it).
func TestDashboardConfig(t *testing.T) {
	for _, tc := range []struct {
		network, listen string
		onion           bool
		want            string // the address after Validate, or the error's text
	}{
		{"mainnet", "", false, "127.0.0.1:8720"},
		{"testnet", "", false, "127.0.0.1:18720"},
		{"signet", "", false, "127.0.0.1:38720"},
		{"regtest", "", false, "127.0.0.1:0"},
		{"regtest", "127.0.0.1:9000", true, "127.0.0.1:9000"},
		{"regtest", "off", false, "off"},
		{"regtest", "off", true, "--dashboard-onion needs the dashboard"},
		{"regtest", "0.0.0.0:8720", false, "not a loopback address"},
		{"regtest", "192.168.1.5:8720", false, "not a loopback address"},
	} {
		c := validConfig(t, RoleTaker)
		c.Network, c.Dashboard = tc.network, DashboardConfig{Listen: tc.listen, Onion: tc.onion}
		if tc.network != "regtest" {
			c.RPC.Host = ""
		}
		err := c.Dashboard.validate(c.Network)
		switch {
		case err != nil && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s %q: %v, want %q", tc.network, tc.listen, err, tc.want)
		case err == nil && c.Dashboard.Listen != tc.want:
			t.Errorf("%s %q: listens on %q, want %q", tc.network, tc.listen, c.Dashboard.Listen, tc.want)
		}
	}
}
