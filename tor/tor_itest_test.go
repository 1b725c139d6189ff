//go:build itest

package tor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Test timings: generous for a loaded 2-core machine, far below tor's own.
const (
	itestStart    = 90 * time.Second // start + bootstrap of one tor
	itestPublish  = 60 * time.Second // descriptor upload (1-2 s measured)
	itestDial     = 30 * time.Second // one onion dial
	itestHealth   = 2 * time.Second  // health check interval in tests
	itestRecovery = 90 * time.Second // kill -> reachable again
)

// node is one participant: a TorTransport serving a length-prefixed echo.
type node struct {
	name string
	tr   *TorTransport
	lis  *OnionListener
	addr string
	wg   sync.WaitGroup
}

func managedConfig(t testing.TB, name string) Config {
	dir := filepath.Join(itestDir, t.Name(), name)
	return Config{
		Mode:           ModeManaged,
		DataDir:        filepath.Join(dir, "tor"),
		KeyFile:        filepath.Join(dir, "onion.key"),
		ExtraArgs:      testNet.ClientArgs(),
		DialTimeout:    itestDial,
		PublishTimeout: itestPublish,
		HealthInterval: itestHealth,
		Logger:         testLogger(t, name),
	}
}

// startNode starts the transport and, if listen, publishes and serves echo.
func startNode(t testing.TB, name string, cfg Config, listen bool) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itestStart)
	defer cancel()
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	recordPID(tr.Status().TorPID, "managed "+name)
	n := &node{name: name, tr: tr}
	t.Cleanup(n.close)
	if listen {
		l, err := tr.Listen(ctx)
		if err != nil {
			t.Fatalf("%s: listen: %v", name, err)
		}
		n.lis = l.(*OnionListener)
		n.addr = l.Addr().String()
		n.wg.Add(1)
		go n.serveEcho()
	}
	return n
}

func (n *node) waitPublished(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itestPublish+5*time.Second)
	defer cancel()
	if err := n.lis.WaitPublished(ctx); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

func (n *node) close() {
	n.tr.Close()
	n.wg.Wait()
}

// serveEcho answers every length-prefixed frame with the same frame.
func (n *node) serveEcho() {
	defer n.wg.Done()
	for {
		c, err := n.lis.Accept()
		if err != nil {
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer c.Close()
			for {
				f, err := readFrame(c)
				if err != nil {
					return
				}
				if err := writeFrame(c, f); err != nil {
					return
				}
			}
		}()
	}
}

const maxFrame = 1 << 16

func writeFrame(w io.Writer, p []byte) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	_, err := w.Write(append(b, p...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return p, err
}

// echo dials addr from n and checks a few frames come back unchanged.
func (n *node) echo(ctx context.Context, addr string) error {
	c, err := n.tr.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != addr {
		return fmt.Errorf("RemoteAddr %s, want %s", got, addr)
	}
	_ = c.SetDeadline(time.Now().Add(itestDial))
	for i, size := range []int{1, 100, 4000} {
		msg := make([]byte, size)
		rand.Read(msg)
		if err := writeFrame(c, msg); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		got, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("frame %d: echo differs", i)
		}
	}
	return nil
}

// echoRetry retries echo until it works or timeout, for the moments when
// a peer's descriptor or intro points are being replaced.
func (n *node) echoRetry(t *testing.T, addr string, timeout time.Duration) (attempts int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		attempts++
		ctx, cancel := context.WithTimeout(context.Background(), itestDial)
		err := n.echo(ctx, addr)
		cancel()
		if err == nil {
			return attempts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -> peer: still failing after %v (%d attempts): %v", n.name, timeout, attempts, err)
		}
		t.Logf("%s -> peer: attempt %d: %v", n.name, attempts, err)
		time.Sleep(time.Second)
	}
}

// TestTwoNodesExchange: two nodes, each with its own managed tor, publish
// onion services and exchange frames both ways through Tor.
func TestTwoNodesExchange(t *testing.T) {
	t0 := time.Now()
	var a, b *node
	var wg sync.WaitGroup
	wg.Go(func() { a = startNode(t, "alice", managedConfig(t, "alice"), true) })
	wg.Go(func() { b = startNode(t, "bob", managedConfig(t, "bob"), true) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	bootstrapped := time.Since(t0)
	a.waitPublished(t)
	b.waitPublished(t)
	published := time.Since(t0)
	// A first onion circuit can fail once on a loaded machine (the
	// product re-dials too); more than that within itestRecovery fails.
	if n := a.echoRetry(t, b.addr, itestRecovery); n > 1 {
		t.Logf("alice -> bob took %d attempts", n)
	}
	first := time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), itestDial)
	defer cancel()
	if err := b.echo(ctx, a.addr); err != nil {
		t.Fatalf("bob -> alice: %v", err)
	}
	t.Logf("time-to-first-onion-connection: %v (both tors bootstrapped %v, both services published %v)",
		first.Round(time.Millisecond), bootstrapped.Round(time.Millisecond), published.Round(time.Millisecond))
	// A second stream to the same peer reuses the circuit: fast.
	t1 := time.Now()
	if err := a.echo(ctx, b.addr); err != nil {
		t.Fatalf("alice -> bob again: %v", err)
	}
	t.Logf("second stream alice -> bob with echo: %v", time.Since(t1).Round(time.Millisecond))
	if rss := rssKiB(a.tr.Status().TorPID); rss > 0 {
		t.Logf("managed tor RSS: %d KiB", rss)
	}
}

// TestRestartSameKey: a node restarted with the same key file (and data
// dir) is reachable again at the same address.
func TestRestartSameKey(t *testing.T) {
	t.Parallel()
	cfg := managedConfig(t, "carol")
	c := startNode(t, "carol", cfg, true)
	d := startNode(t, "dave", managedConfig(t, "dave"), false)
	c.waitPublished(t)
	d.echoRetry(t, c.addr, itestDial)
	addr := c.addr
	c.close()

	t0 := time.Now()
	c2 := startNode(t, "carol2", cfg, true)
	if c2.addr != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, c2.addr)
	}
	c2.waitPublished(t)
	n := d.echoRetry(t, addr, itestRecovery)
	t.Logf("restarted node reachable at the same address after %v (%d attempts)", time.Since(t0).Round(time.Millisecond), n)
}

// TestAttachCookie: a node attached to an externally started tor (control
// socket + cookie authentication, as Debian's system tor) works the same.
func TestAttachCookie(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(itestDir, t.Name())
	sock, stop := startExternalTor(t, dir)
	defer stop()
	cfg := Config{
		Mode:           ModeAttach,
		ControlAddr:    "unix:" + sock,
		KeyFile:        filepath.Join(dir, "onion.key"),
		DialTimeout:    itestDial,
		PublishTimeout: itestPublish,
		HealthInterval: itestHealth,
		Logger:         testLogger(t, "erin"),
	}
	e := startNode(t, "erin", cfg, true)
	f := startNode(t, "frank", managedConfig(t, "frank"), true)
	e.waitPublished(t)
	f.waitPublished(t)
	f.echoRetry(t, e.addr, itestDial)
	e.echoRetry(t, f.addr, itestDial)
	e.close()
	if !alive(externalPID) {
		t.Fatal("closing an attached transport stopped the tor it did not start")
	}
}

var externalPID int

// startExternalTor starts a client tor of the private network the way an
// operator would run one: control socket, CookieAuthentication 1.
func startExternalTor(t *testing.T, dir string) (sock string, stop func()) {
	t.Helper()
	data := filepath.Join(dir, "ext")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(data, "control")
	torrc := filepath.Join(dir, "ext.torrc")
	lines := append(testNet.ClientTorrcLines(),
		"DataDirectory "+data,
		"SocksPort 127.0.0.1:auto",
		"ControlSocket "+sock,
		"CookieAuthentication 1",
		`GeoIPFile ""`, `GeoIPv6File ""`,
		fmt.Sprintf("__OwningControllerProcess %d", os.Getpid()),
		"Log notice file "+filepath.Join(data, "notice.log"))
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tor", "-f", torrc, "--defaults-torrc", torrc+".defaults")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	externalPID = cmd.Process.Pid
	recordPID(cmd.Process.Pid, "external")
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); bytes.Contains(b, []byte(torrc)) {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock, stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("external tor opened no control socket")
		}
	}
}

// TestDialNonexistentOnion: a valid address nobody publishes fails with
// ErrOnionUnreachable, within the dial timeout.
func TestDialNonexistentOnion(t *testing.T) {
	t.Parallel()
	g := startNode(t, "grace", managedConfig(t, "grace"), false)
	k, err := GenerateOnionKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := k.ServiceID() + ".onion:80"
	t0 := time.Now()
	_, err = g.tr.Dial(context.Background(), addr)
	el := time.Since(t0)
	if !errors.Is(err, ErrOnionUnreachable) {
		t.Fatalf("want ErrOnionUnreachable, got %v", err)
	}
	if el > itestDial+5*time.Second {
		t.Fatalf("failed only after %v", el)
	}
	var se *SOCKSError
	errors.As(err, &se)
	t.Logf("dial to a nonexistent onion failed after %v: %v (code %#x)", el.Round(time.Millisecond), err, se.Code)
}

// TestManagedTorKilled: SIGKILL the managed tor under a running node; the
// health check restarts it and re-publishes, and the node is reachable at
// the same address again.
func TestManagedTorKilled(t *testing.T) {
	t.Parallel()
	h := startNode(t, "heidi", managedConfig(t, "heidi"), true)
	i := startNode(t, "ivan", managedConfig(t, "ivan"), false)
	h.waitPublished(t)
	i.echoRetry(t, h.addr, itestDial)
	pid := h.tr.Status().TorPID
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(b, []byte(itestDir)) {
		t.Fatalf("pid %d is not our tor: %q", pid, b)
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for h.tr.Status().Restarts == 0 || !h.tr.Status().Connected {
		if time.Since(t0) > itestRecovery {
			t.Fatal("managed tor not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := h.tr.Status()
	recordPID(st.TorPID, "managed heidi restarted")
	if st.TorPID == pid || alive(pid) {
		t.Fatalf("old tor %d still there (new %d)", pid, st.TorPID)
	}
	restarted := time.Since(t0)
	h.waitPublished(t)
	n := i.echoRetry(t, h.addr, itestRecovery)
	t.Logf("after SIGKILL: tor restarted in %v, reachable again after %v (%d attempts)",
		restarted.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), n)
}

// TestManagedNeverBootstraps: a tor that cannot reach any authority gives
// ErrBootstrapTimeout, not a hang, and is stopped.
func TestManagedNeverBootstraps(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close() // nothing listens there any more
	cfg := managedConfig(t, "judy")
	cfg.ExtraArgs = []string{"--TestingTorNetwork", "1", "--DirAuthority",
		"dead orport=1 no-v2 v3ident=0000000000000000000000000000000000000000 " + dead + " 0000000000000000000000000000000000000000"}
	cfg.BootstrapTimeout = 5 * time.Second
	t0 := time.Now()
	tr, err := NewTorTransport(context.Background(), cfg)
	if err == nil {
		tr.Close()
		t.Fatal("bootstrapped against a dead authority?")
	}
	if !errors.Is(err, ErrBootstrapTimeout) {
		t.Fatalf("want ErrBootstrapTimeout, got %v", err)
	}
	if el := time.Since(t0); el > cfg.BootstrapTimeout+15*time.Second {
		t.Fatalf("took %v", el)
	}
	t.Logf("never-bootstrapping tor: %v after %v", err, time.Since(t0).Round(time.Millisecond))
}

func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// rssKiB reads VmRSS of pid, 0 if unknown.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	return 0
}

// TestManagedBadConfig: a tor that exits at start (here: an unparsable
// option) gives an error quoting tor's own complaint, at once.
func TestManagedBadConfig(t *testing.T) {
	t.Parallel()
	cfg := managedConfig(t, "mallory")
	cfg.ExtraArgs = append(cfg.ExtraArgs, "--NoSuchTorOption", "1")
	t0 := time.Now()
	tr, err := NewTorTransport(context.Background(), cfg)
	if err == nil {
		tr.Close()
		t.Fatal("tor started with a bogus option")
	}
	if !strings.Contains(err.Error(), "NoSuchTorOption") || time.Since(t0) > 10*time.Second {
		t.Fatalf("after %v: %v", time.Since(t0), err)
	}
	t.Logf("bad config: %v", err)
}
