package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/daemon"
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

// parseFor parses args as command path does (flags, then the config
// file) and returns its config, not validated.
func parseFor(t *testing.T, path string, args ...string) (*daemon.Config, string, error) {
	t.Helper()
	c := findCommand(path)
	if c == nil {
		t.Fatalf("no command %q", path)
	}
	var errb bytes.Buffer
	e, _, err := parseCommand(c, args, nil, io.Discard, &errb)
	return e.cfg, errb.String(), err
}

// TestConfigValidate: the flags as the run commands take them, through
// daemon.Config.Validate.
func TestConfigValidate(t *testing.T) {
	tn := t.TempDir()
	if err := os.WriteFile(filepath.Join(tn, "client.torrc"), []byte("TestingTorNetwork 1\nDirAuthority a0 orport=1 127.0.0.1:2 FF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	rpc := []string{"--rpc-user", "u", "--rpc-pass", "p"}
	reg := append([]string{"--network", "regtest", "--rpc-host", "127.0.0.1:1234", "--rpc-notls"}, rpc...)
	dir := []string{"--directory", testOnion}
	tests := []struct {
		name    string
		cmd     string
		args    []string
		wantErr string // substring; "" = valid
	}{
		{"directory mainnet", "directory run", rpc, ""},
		{"bad network", "directory run", append([]string{"--network", "testnet4"}, rpc...), "--network"},
		{"no rpc credentials", "directory run", nil, "credentials"},
		{"cookie and password", "directory run", append([]string{"--rpc-cookie", "/x"}, rpc...), "exclusive"},
		{"notls remote", "directory run", append([]string{"--rpc-host", "10.0.0.2:8332", "--rpc-notls"}, rpc...), "loopback"},
		{"notls name starting 127", "directory run", append([]string{"--rpc-host", "127.attacker.invalid:8332", "--rpc-notls"}, rpc...), "loopback"},
		{"notls localhost", "directory run", append([]string{"--rpc-host", "localhost:8332", "--rpc-notls"}, rpc...), ""},
		{"notls ipv6 loopback", "directory run", append([]string{"--rpc-host", "[::1]:8332", "--rpc-notls"}, rpc...), ""},
		{"bad log level", "directory run", append([]string{"--log-level", "loud"}, rpc...), "--log-level"},
		{"bad log format", "directory run", append([]string{"--log-format", "xml"}, rpc...), "--log-format"},
		{"log never rotated", "directory run", append([]string{"--log-max-mb", "0"}, rpc...), ""},
		{"negative log size", "directory run", append([]string{"--log-max-mb", "-1"}, rpc...), "--log-max-mb"},
		{"too many kept logs", "directory run", append([]string{"--log-keep", "1000"}, rpc...), "--log-keep"},
		{"bad tor mode", "directory run", append([]string{"--tor", "system"}, rpc...), "--tor"},
		{"attach with control", "directory run", append([]string{"--tor", "attach", "--tor-control", "/run/tor/control"}, rpc...), ""},
		{"managed with control", "directory run", append([]string{"--tor-control", "/run/tor/control"}, rpc...), "attach"},
		{"attach with password file", "directory run", append([]string{"--tor", "attach", "--tor-password-file", pw}, rpc...), ""},
		{"attach password twice", "directory run", append([]string{"--tor", "attach", "--tor-password", "x", "--tor-password-file", pw}, rpc...), "exclusive"},
		{"attach with tornet", "directory run", append([]string{"--network", "regtest", "--tor", "attach", "--tornet-dir", tn}, rpc...), "managed"},
		{"tornet on regtest", "directory run", append([]string{"--tornet-dir", tn}, reg...), ""},
		{"tornet on mainnet", "directory run", append([]string{"--tornet-dir", tn}, rpc...), "regtest only"},
		{"tornet missing", "directory run", append([]string{"--tornet-dir", t.TempDir()}, reg...), "client.torrc"},
		{"fault on regtest", "maker run", append([]string{"--fault", "maker:close-at=setup"}, append(dir, reg...)...), ""},
		{"fault on mainnet", "maker run", append([]string{"--fault", "maker:close-at=setup"}, append(dir, rpc...)...), "only on regtest"},
		{"fault on signet", "taker recover", append([]string{"--network", "signet", "--fault", "crash-after=settling"}, rpc...), "only on regtest"},
		{"malformed fault", "taker recover", append([]string{"--fault", "Crash After!"}, reg...), "--fault"},
		{"maker without directory", "maker run", reg, "at least one --directory"},
		{"taker run without directory", "taker run", reg, "at least one --directory"},
		{"taker run with directory", "taker run", append(dir, reg...), ""},
		{"taker recover without directory", "taker recover", reg, ""},
		{"bad directory", "maker run", append([]string{"--directory", "example.com:80"}, reg...), "--directory"},
		{"two directories comma", "maker run", append([]string{"--directory", testOnion + "," + testOnion}, reg...), ""},
		{"negative bond", "maker run", append([]string{"--bond-amount", "-1"}, append(dir, reg...)...), "negative"},
		{"idle timeout on regtest", "maker run", append([]string{"--idle-timeout", "15s"}, append(dir, reg...)...), ""},
		{"idle timeout on mainnet", "maker run", append([]string{"--idle-timeout", "15s"}, append(dir, rpc...)...), "--idle-timeout"},
		{"idle timeout too short", "maker run", append([]string{"--idle-timeout", "10ms"}, append(dir, reg...)...), "--idle-timeout"},
		{"keepalive on regtest", "taker recover", append([]string{"--keepalive-interval", "1s"}, reg...), ""},
		{"keepalive on mainnet", "taker recover", append([]string{"--keepalive-interval", "1s"}, rpc...), "--keepalive-interval"},
		{"keepalive too short", "taker recover", append([]string{"--keepalive-interval", "1ms"}, reg...), "--keepalive-interval"},
		{"chain poll too fast", "taker recover", append([]string{"--chain-poll", "1ms"}, reg...), "--chain-poll"},
		{"health too fast", "taker recover", append([]string{"--health-interval", "1ms"}, reg...), "--health-interval"},
		{"wallet takes no tor", "wallet balance", reg, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFor(t, tc.cmd, append([]string{"--datadir", t.TempDir()}, tc.args...)...)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			case err != nil && !errors.Is(err, daemon.ErrConfig):
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestFlagDefaults(t *testing.T) {
	cfg, _, err := parseFor(t, "maker run")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*cfg, daemon.NewConfig(daemon.RoleMaker)) {
		t.Errorf("maker run starts from %+v", cfg)
	}
	cfg, _, _ = parseFor(t, "wallet balance")
	if cfg.LogStderr != "off" || cfg.Role != daemon.RoleWallet {
		t.Errorf("wallet commands: %+v", cfg)
	}
	cfg, _, _ = parseFor(t, "maker run", "--required-confirms", "3", "--bond-lock-blocks", "1000")
	if cfg.Maker.RequiredConfirms != 3 || cfg.Maker.BondLockBlocks != 1000 {
		t.Errorf("maker settings: %+v", cfg.Maker)
	}
	if _, _, err := parseFor(t, "maker run", "--bond-lock-blocks", "-1"); err == nil {
		t.Error("a negative lock was accepted")
	}
}

func writeConf(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestConfigFile: DATADIR/onionswap.conf and --conf FILE, under the
// command line.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, confName)
	writeConf(t, conf, `# a node
network = regtest
rpc-user = alice
rpc-pass = s3cr=t #not a comment
rpc-notls = true
directory = `+testOnion+`

  directory=`+testOnion+`,`+testOnion+`
base-fee = 2000
log-level = debug
`, 0o600)
	cfg, warn, err := parseFor(t, "maker run", "--datadir", dir)
	if err != nil || warn != "" {
		t.Fatalf("parse: %v, %q", err, warn)
	}
	if cfg.Network != "regtest" || cfg.RPC.User != "alice" || cfg.RPC.Pass != "s3cr=t #not a comment" || !cfg.RPC.NoTLS ||
		len(cfg.Directories) != 3 || cfg.Maker.BaseFee != 2000 || cfg.LogLevel != "debug" {
		t.Fatalf("config file not applied: %+v", cfg)
	}
	// Flags override the file, a repeatable one as a whole.
	cfg, _, err = parseFor(t, "maker run", "--datadir", dir, "--network", "testnet", "--directory", "x.onion:1", "--rpc-notls=false")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network != "testnet" || !slices.Equal(cfg.Directories, []string{"x.onion:1"}) || cfg.RPC.NoTLS || cfg.RPC.User != "alice" {
		t.Fatalf("flags do not override: %+v", cfg)
	}
	// A key of another command is ignored: the wallet commands skip the
	// maker's fee and the directories.
	cfg, _, err = parseFor(t, "wallet balance", "--datadir", dir)
	if err != nil || cfg.Maker.BaseFee != 0 || len(cfg.Directories) != 0 || cfg.RPC.User != "alice" {
		t.Fatalf("wallet balance: %v, %+v", err, cfg)
	}

	other := filepath.Join(t.TempDir(), "node.conf")
	writeConf(t, other, "datadir = "+dir+"\nnetwork = signet\n", 0o640)
	cfg, warn, err = parseFor(t, "wallet balance", "--conf", other)
	if err != nil || warn != "" || cfg.DataDir != dir || cfg.Network != "signet" {
		t.Fatalf("--conf: %v, %q, %+v", err, warn, cfg)
	}

	bad := []struct {
		name, text, want string
	}{
		{"unknown key", "network = regtest\n\nbogus = 1\n", confName + `:3: unknown key "bogus"`},
		{"dashes", "--network = regtest\n", confName + `:1: "--network": keys are the flag names without dashes`},
		{"no value", "network\n", confName + `:1: want key = value`},
		{"bad value", "# x\nlog-max-mb = lots\n", confName + `:2: log-max-mb: want a whole number`},
		{"twice", "network = regtest\nnetwork = signet\n", confName + `:2: network is already set on line 1`},
		{"datadir in the data dir", "datadir = /elsewhere\n", confName + `:1: datadir cannot be set`},
		{"a command's own flag", "amount = 5\n", confName + `:1: unknown key "amount"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			writeConf(t, filepath.Join(d, confName), tc.text, 0o600)
			_, _, err := parseFor(t, "maker run", "--datadir", d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			code, _, errs := cli(t, "", "wallet", "balance", "--datadir", d)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("wallet balance: exit %d, %q", code, errs)
			}
		})
	}
	if _, _, err := parseFor(t, "maker run", "--conf", filepath.Join(dir, "missing.conf")); err == nil {
		t.Fatal("a missing --conf file was accepted")
	}
}

// TestConfigFileMode: a config file others may read is warned about.
func TestConfigFileMode(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o400, false}, {0o644, true}, {0o660, true}, {0o604, true}} {
		dir := t.TempDir()
		writeConf(t, filepath.Join(dir, confName), "network = regtest\n", tc.mode)
		_, warn, err := parseFor(t, "wallet balance", "--datadir", dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(warn, "warning: "+filepath.Join(dir, confName)+" has mode"); got != tc.warn {
			t.Errorf("mode %#o: warning %q", tc.mode, warn)
		}
	}
}

// TestContribUpToDate: the committed sample config and bash completion
// are what the tables generate (go generate ./cmd/onionswap rewrites
// them).
func TestContribUpToDate(t *testing.T) {
	for _, f := range []struct {
		file string
		gen  func(io.Writer) error
	}{
		{"../../contrib/onionswap.conf", writeSampleConf},
		{"../../contrib/onionswap.bash-completion", writeCompletion},
	} {
		var b bytes.Buffer
		if err := f.gen(&b); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b.Bytes()) {
			t.Errorf("%s differs from what the tables generate: run go generate ./cmd/onionswap", filepath.Base(f.file))
		}
	}
}

// TestSampleConf: the sample names every setting but the test knobs, and
// with every valued line uncommented it is a config the maker accepts.
func TestSampleConf(t *testing.T) {
	var b bytes.Buffer
	if err := writeSampleConf(&b); err != nil {
		t.Fatal(err)
	}
	sample := b.String()
	for _, o := range options {
		has := strings.Contains(sample, "\n#"+o.name+" =")
		if has == (o.group == grpTesting) {
			t.Errorf("%s: in the sample %t", o.name, has)
		}
	}
	valued := regexp.MustCompile(`(?m)^#([a-z-]+ = .+)$`)
	var conf []string
	for _, m := range valued.FindAllStringSubmatch(sample, -1) {
		if !strings.HasPrefix(m[1], "datadir ") {
			conf = append(conf, m[1])
		}
	}
	dir := t.TempDir()
	writeConf(t, filepath.Join(dir, confName), strings.Join(conf, "\n")+"\n", 0o600)
	want := daemon.NewConfig(daemon.RoleMaker)
	want.DataDir = dir
	if cfg, _, err := parseFor(t, "maker run", "--datadir", dir); err != nil || !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("the sample's defaults are not the defaults: %v, %+v", err, cfg)
	}
}

func TestCompletion(t *testing.T) {
	var b bytes.Buffer
	if err := writeCompletion(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{`"wallet send")`, "--fee-rate", `"status")`, `"taker recover")`, "--tornet-dir", "complete -F _onionswap onionswap"} {
		if !strings.Contains(s, want) {
			t.Errorf("completion lacks %q", want)
		}
	}
	if strings.Contains(s, "config sample") {
		t.Error("completion offers a hidden command")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to check the syntax")
	}
	cmd := exec.Command(bash, "-n")
	cmd.Stdin = strings.NewReader(s)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v: %s", err, out)
	}
	// Complete `onionswap wallet se` and `onionswap status --d`.
	script := s + `
COMP_WORDS=(onionswap wallet se); COMP_CWORD=2; _onionswap; echo "${COMPREPLY[*]}"
COMP_WORDS=(onionswap status --d); COMP_CWORD=2; _onionswap; echo "${COMPREPLY[*]}"
COMP_WORDS=(onionswap maker run --network re); COMP_CWORD=4; _onionswap; echo "${COMPREPLY[*]}"
`
	cmd = exec.Command(bash, "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "send\n--datadir\nregtest\n" {
		t.Fatalf("completions: %v: %q", err, out)
	}
}

// TestSystemdUnit: the command lines of contrib/onionswap.service parse
// for every role (the flags it uses exist, the durations are Go's).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../contrib/onionswap.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"\nType=notify\n", "\nExecStop=", "\nProtectSystem=strict\n", "\nNoNewPrivileges=yes\n",
		"\nReadWritePaths=/var/lib/onionswap\n", "\nUser=onionswap\n", "\nSupplementaryGroups=debian-tor\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	var cmds []string
	for _, l := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && (k == "ExecStart" || k == "ExecStop") {
			cmds = append(cmds, strings.TrimPrefix(v, "-"))
		}
	}
	if len(cmds) != 2 {
		t.Fatalf("ExecStart/ExecStop: %q", cmds)
	}
	for _, role := range []string{"maker", "taker", "directory"} {
		for _, c := range cmds {
			f := strings.Fields(strings.ReplaceAll(c, "${ONIONSWAP_ROLE}", role))
			if f[0] != "/usr/local/bin/onionswap" {
				t.Fatalf("binary %q", f[0])
			}
			args := f[1:]
			path := args[0]
			if path != "stop" {
				path, args = args[0]+" "+args[1], args[2:]
			} else {
				args = args[1:]
			}
			cmd := findCommand(path)
			if cmd == nil {
				t.Fatalf("%s: no command %q", c, path)
			}
			if _, _, err := parseCommand(cmd, args, nil, io.Discard, io.Discard); err != nil {
				t.Fatalf("%s: %v", c, err)
			}
		}
	}
}
