package daemon

import (
	"errors"
	"flag"
	"io"
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

func parse(t *testing.T, role string, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := &Config{Role: role}
	cfg.RegisterFlags(fs, FlagsBase|FlagsChain|FlagsTor|FlagsRole|FlagsMaker)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func TestConfigValidate(t *testing.T) {
	if _, err := tor.ParseOnionAddr(testOnion); err != nil {
		t.Fatalf("test onion: %v", err)
	}
	tn := t.TempDir()
	if err := os.WriteFile(filepath.Join(tn, "client.torrc"), []byte("TestingTorNetwork 1\nDirAuthority a0 orport=1 127.0.0.1:2 FF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	rpc := []string{"--rpc-user", "u", "--rpc-pass", "p"}
	reg := append([]string{"--network", "regtest", "--rpc-host", "127.0.0.1:1234", "--rpc-notls"}, rpc...)
	tests := []struct {
		name    string
		role    string
		args    []string
		wantErr string // substring; "" = valid
	}{
		{"directory mainnet", RoleDirectory, rpc, ""},
		{"unknown role", "banker", rpc, "unknown role"},
		{"bad network", RoleDirectory, append([]string{"--network", "testnet4"}, rpc...), "--network"},
		{"no rpc credentials", RoleDirectory, nil, "credentials"},
		{"cookie and password", RoleDirectory, append([]string{"--rpc-cookie", "/x"}, rpc...), "exclusive"},
		{"notls remote", RoleDirectory, append([]string{"--rpc-host", "10.0.0.2:8332", "--rpc-notls"}, rpc...), "loopback"},
		{"notls localhost", RoleDirectory, append([]string{"--rpc-host", "localhost:8332", "--rpc-notls"}, rpc...), ""},
		{"notls ipv6 loopback", RoleDirectory, append([]string{"--rpc-host", "[::1]:8332", "--rpc-notls"}, rpc...), ""},
		{"bad log level", RoleDirectory, append([]string{"--log-level", "loud"}, rpc...), "--log-level"},
		{"bad log format", RoleDirectory, append([]string{"--log-format", "xml"}, rpc...), "--log-format"},
		{"log never rotated", RoleDirectory, append([]string{"--log-max-mb", "0"}, rpc...), ""},
		{"negative log size", RoleDirectory, append([]string{"--log-max-mb", "-1"}, rpc...), "--log-max-mb"},
		{"too many kept logs", RoleDirectory, append([]string{"--log-keep", "1000"}, rpc...), "--log-keep"},
		{"bad tor mode", RoleDirectory, append([]string{"--tor", "system"}, rpc...), "--tor"},
		{"attach with control", RoleDirectory, append([]string{"--tor", "attach", "--tor-control", "/run/tor/control"}, rpc...), ""},
		{"managed with control", RoleDirectory, append([]string{"--tor-control", "/run/tor/control"}, rpc...), "attach"},
		{"attach with password file", RoleDirectory, append([]string{"--tor", "attach", "--tor-password-file", pw}, rpc...), ""},
		{"attach password twice", RoleDirectory, append([]string{"--tor", "attach", "--tor-password", "x", "--tor-password-file", pw}, rpc...), "exclusive"},
		{"attach with tornet", RoleDirectory, append([]string{"--network", "regtest", "--tor", "attach", "--tornet-dir", tn}, rpc...), "managed"},
		{"tornet on regtest", RoleDirectory, append([]string{"--tornet-dir", tn}, reg...), ""},
		{"tornet on mainnet", RoleDirectory, append([]string{"--tornet-dir", tn}, rpc...), "regtest only"},
		{"tornet missing", RoleDirectory, append([]string{"--tornet-dir", t.TempDir()}, reg...), "client.torrc"},
		{"fault on regtest", RoleMaker, append([]string{"--fault", "maker:close-at=setup", "--directory", testOnion}, reg...), ""},
		{"fault on mainnet", RoleMaker, append([]string{"--fault", "maker:close-at=setup", "--directory", testOnion}, rpc...), "only on regtest"},
		{"fault on signet", RoleTaker, append([]string{"--network", "signet", "--fault", "crash-after=settling"}, rpc...), "only on regtest"},
		{"malformed fault", RoleTaker, append([]string{"--fault", "Crash After!"}, reg...), "--fault"},
		{"maker without directory", RoleMaker, reg, "at least one --directory"},
		{"bad directory", RoleMaker, append([]string{"--directory", "example.com:80"}, reg...), "--directory"},
		{"two directories comma", RoleMaker, append([]string{"--directory", testOnion + "," + testOnion}, reg...), ""},
		{"negative bond", RoleMaker, append([]string{"--directory", testOnion, "--bond-amount", "-1"}, reg...), "negative"},
		{"idle timeout on regtest", RoleMaker, append([]string{"--directory", testOnion, "--idle-timeout", "15s"}, reg...), ""},
		{"idle timeout on mainnet", RoleMaker, append([]string{"--directory", testOnion, "--idle-timeout", "15s"}, rpc...), "--idle-timeout"},
		{"idle timeout too short", RoleMaker, append([]string{"--directory", testOnion, "--idle-timeout", "10ms"}, reg...), "--idle-timeout"},
		{"chain poll too fast", RoleTaker, append([]string{"--chain-poll", "1ms"}, reg...), "--chain-poll"},
		{"health too fast", RoleTaker, append([]string{"--health-interval", "1ms"}, reg...), "--health-interval"},
		{"wallet role needs no tor", RoleWallet, append([]string{"--tor", "bogus"}, reg...), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.role, append([]string{"--datadir", t.TempDir()}, tc.args...)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			case err != nil && !errors.Is(err, ErrConfig):
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

// TestTakerKeepAliveFlag: --keepalive-interval is a regtest-only test
// setting.
func TestTakerKeepAliveFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"regtest", []string{"--network", "regtest", "--keepalive-interval", "1s"}, false},
		{"mainnet", []string{"--keepalive-interval", "1s"}, true},
		{"too short", []string{"--network", "regtest", "--keepalive-interval", "1ms"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := &Config{Role: RoleTaker}
			cfg.RegisterFlags(fs, FlagsBase|FlagsChain|FlagsTor|FlagsRole|FlagsTaker)
			args := append([]string{"--datadir", t.TempDir(), "--rpc-user", "u", "--rpc-pass", "p"}, tc.args...)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "--keepalive-interval")) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parse(t, RoleDirectory, "--datadir", "rel/dir", "--network", "regtest", "--rpc-user", "u", "--rpc-pass", "p")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(cfg.DataDir) {
		t.Errorf("datadir %q not absolute", cfg.DataDir)
	}
	if cfg.RPC.Host != "127.0.0.1:18443" {
		t.Errorf("rpc host %q", cfg.RPC.Host)
	}
	if cfg.HealthInterval != DefaultHealthInterval {
		t.Errorf("health interval %s", cfg.HealthInterval)
	}
	if cfg.Tor.Mode != "managed" || cfg.LogFormat != "json" || cfg.LogStderr != "text" || cfg.LogLevel != "info" {
		t.Errorf("defaults: %+v", cfg)
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
