package tornet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func testNodes() []nodeSpec {
	return []nodeSpec{
		{name: "a0", kind: kindAuthority, orPort: 20016, dirPort: 20032, dir: "/n/a0"},
		{name: "a1", kind: kindAuthority, orPort: 20017, dirPort: 20033, dir: "/n/a1"},
		{name: "a2", kind: kindAuthority, orPort: 20018, dirPort: 20034, dir: "/n/a2"},
		{name: "r0", kind: kindRelay, exit: true, orPort: 20019, dir: "/n/r0"},
		{name: "r1", kind: kindRelay, orPort: 20020, dir: "/n/r1"},
		{name: "r2", kind: kindRelay, orPort: 20021, dir: "/n/r2"},
	}
}

// TestEveryTorrcIsPrivate: every torrc we write pins the private
// authorities and TestingTorNetwork, binds only 127.0.0.1 and names its
// owner, so no tor we start can reach the public network or outlive us.
func TestEveryTorrcIsPrivate(t *testing.T) {
	dirAuths := []string{"DirAuthority a0 orport=20016 no-v2 v3ident=AA 127.0.0.1:20032 BB"}
	for _, n := range testNodes() {
		t.Run(n.name, func(t *testing.T) {
			lines := commonLines(n, dirAuths, []string{"$BB"}, 4242)
			if n.kind == kindAuthority {
				lines = append(lines, authorityLines(n)...)
			} else {
				lines = append(lines, relayLines(n)...)
			}
			for _, want := range []string{"TestingTorNetwork 1", dirAuths[0], "__OwningControllerProcess 4242",
				`GeoIPFile ""`, "DataDirectory " + n.dir, "SocksPort 0"} {
				if !slices.Contains(lines, want) {
					t.Errorf("missing %q", want)
				}
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "ORPort ") || strings.HasPrefix(l, "DirPort ") {
					if !strings.Contains(l, " 127.0.0.1:") {
						t.Errorf("not bound to loopback: %q", l)
					}
				}
			}
			if n.kind == kindRelay && !slices.Contains(lines, "DirCache 0") {
				t.Error("relay without DirCache 0")
			}
			if n.kind == kindRelay && n.exit != slices.Contains(lines, "ExitPolicy accept *:*") {
				t.Error("exit policy does not match the exit flag")
			}
		})
	}
	cl := clientLines([]string{"a0 orport=1 x"})
	if !slices.Equal(cl, []string{"TestingTorNetwork 1", "PathsNeededToBuildCircuits 0.95",
		"LearnCircuitBuildTimeout 0", "CircuitBuildTimeout 10", "DirAuthority a0 orport=1 x"}) {
		t.Fatalf("client lines %q", cl)
	}
}

func TestConsensusFlags(t *testing.T) {
	routers, err := parseConsensusFlags(filepath.Join("testdata", "microdesc-consensus-3a3r.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(routers) != 6 {
		t.Fatalf("%d routers", len(routers))
	}
	if m := missingFromConsensus(routers, testNodes()); len(m) != 0 {
		t.Fatalf("complete consensus reported missing %v", m)
	}
	partial := map[string][]string{
		"a0": routers["a0"], "a1": routers["a1"], "a2": {"Authority", "Running", "Valid"},
		"r0": {"Fast", "Guard", "Running", "Stable", "Valid"}, "r1": routers["r1"],
	}
	got := missingFromConsensus(partial, testNodes())
	want := []string{"a2 without Guard,Stable,HSDir", "r0 without Exit", "r2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if _, err := parseConsensusFlags(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("missing file parsed")
	}
}

func TestPhaseWait(t *testing.T) {
	for _, s := range []int64{1700000000, 1700000003, 1700000004, 1700000009} {
		now := time.Unix(s, 250e6)
		w := phaseWait(now)
		at := now.Add(w)
		if at.Unix()%votingPeriod != votingPhase || at.Nanosecond() != 0 || w <= 0 || w > votingPeriod*time.Second {
			t.Fatalf("from %v: wait %v lands at %v", now, w, at)
		}
	}
}

// TestPortBlocksDoNotCollide: reservations exclude each other (they are
// flocks, so this holds across processes too) and only hand out free ports.
func TestPortBlocksDoNotCollide(t *testing.T) {
	var blocks []*portBlock
	defer func() {
		for _, b := range blocks {
			b.release()
		}
	}()
	seen := map[int]bool{}
	for i := 0; i < 5; i++ {
		b, err := reservePorts(6)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		if seen[b.base] {
			t.Fatalf("base %d handed out twice", b.base)
		}
		seen[b.base] = true
		if b.base < portLow || b.dirPort(5) >= portHigh+portStride || b.dirPort(0) <= b.orPort(5) {
			t.Fatalf("bad block %d", b.base)
		}
	}
	if _, err := reservePorts(maxNodes + 1); err == nil {
		t.Fatal("oversized network accepted")
	}
}

func TestFieldAfter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x\nfingerprint 1234 5678 9ABC DEF0 1234 5678 9ABC DEF0 1234 5678\n"), 0o600)
	got, err := fieldAfter(p, "fingerprint")
	if err != nil || got != "123456789ABCDEF0123456789ABCDEF012345678" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := fieldAfter(p, "a0"); err == nil {
		t.Fatal("missing key found")
	}
	os.WriteFile(p, []byte("a0 1234\n"), 0o600)
	if _, err := fieldAfter(p, "a0"); err == nil {
		t.Fatal("short fingerprint accepted")
	}
}

func TestIsOurs(t *testing.T) {
	// The test binary is not a tor: never signalled.
	if isOurs(os.Getpid(), "/x/torrc") || isOurs(0, "") {
		t.Fatal("isOurs accepted a non-tor process")
	}
}

func TestPrepareDirRefusesForeignContent(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600)
	if err := prepareDir(dir); err == nil {
		t.Fatal("used a non-empty foreign directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatal("foreign file removed")
	}
	ours := t.TempDir()
	if err := prepareDir(ours); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(ours, "a0"), 0o700)
	if err := prepareDir(ours); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ours, "a0")); err == nil {
		t.Fatal("earlier network not cleared")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}
	if err := o.setDefaults(); err == nil {
		t.Fatal("empty Dir accepted")
	}
	o = Options{Dir: "x", Relays: 1, Exits: 2}
	if err := o.setDefaults(); err == nil {
		t.Fatal("more exits than relays accepted")
	}
	t.Setenv("PATH", t.TempDir())
	o = Options{Dir: "x"}
	if err := o.setDefaults(); err == nil || !strings.Contains(err.Error(), "apt-get install tor") {
		t.Fatalf("missing tor: %v", err)
	}
}
