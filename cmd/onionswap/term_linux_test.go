package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/onionswap/onionswap/node/daemon"
)

// openPTY returns a pseudo-terminal pair: what a user types is written to
// master; the program reads slave, a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Skipf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Skipf("ptsname: %v", errno)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// typist answers each prompt written to it by typing the next line on
// the terminal's master side (after the prompt: echo is off by then).
type typist struct {
	mu     sync.Mutex
	master *os.File
	lines  []string
	out    strings.Builder
}

func (ty *typist) Write(p []byte) (int, error) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	ty.out.Write(p)
	if strings.HasSuffix(string(p), ": ") && len(ty.lines) > 0 {
		l := ty.lines[0]
		ty.lines = ty.lines[1:]
		if _, err := ty.master.WriteString(l + "\n"); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (ty *typist) String() string {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	return ty.out.String()
}

// TestPassphrasePrompt: on a terminal `wallet create` asks for the
// passphrase twice without echo; off a terminal it warns that the wallet
// is not encrypted and how to encrypt it.
func TestPassphrasePrompt(t *testing.T) {
	ctx := context.Background()
	ask := func(stdin *os.File, ty *typist) (*daemon.Config, error) {
		cfg := daemon.NewConfig(daemon.RoleWallet)
		cfg.DataDir = t.TempDir()
		e := &env{cmd: findCommand("wallet create"), cfg: &cfg, stdin: stdin, stderr: ty}
		return &cfg, askPassphrase(ctx, e)
	}

	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("the pty slave is no terminal")
	}
	ty := &typist{master: master, lines: []string{"hunter2", "hunter2"}}
	cfg, err := ask(slave, ty)
	if err != nil || string(cfg.WalletPassphrase) != "hunter2" {
		t.Fatalf("passphrase %q, %v; stderr %q", cfg.WalletPassphrase, err, ty)
	}
	if !strings.Contains(ty.String(), "--passphrase-file") {
		t.Fatalf("no word on how to give it later: %q", ty)
	}
	// Nothing typed was echoed back to the terminal.
	time.Sleep(200 * time.Millisecond)
	fd := int(master.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, _ := syscall.Read(fd, buf)
	if n > 0 && strings.Contains(string(buf[:n]), "hunter2") {
		t.Fatalf("the passphrase was echoed: %q", buf[:n])
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	if tm, err := getTermios(slave.Fd()); err != nil || tm.Lflag&syscall.ECHO == 0 {
		t.Fatalf("echo not restored: %v", err)
	}

	ty = &typist{master: master, lines: []string{"one", "two"}}
	if _, err := ask(slave, ty); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("different passphrases: %v", err)
	}
	ty = &typist{master: master, lines: []string{""}}
	if cfg, err := ask(slave, ty); err != nil || cfg.WalletPassphrase != nil || !strings.Contains(ty.String(), "not encrypted") {
		t.Fatalf("empty passphrase: %v, %q", err, ty)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ty = &typist{}
	cfg, err = ask(r, ty)
	if err != nil || cfg.WalletPassphrase != nil {
		t.Fatalf("not a terminal: %v", err)
	}
	if s := ty.String(); !strings.Contains(s, "warning: the wallet is not encrypted") || !strings.Contains(s, "--passphrase-file FILE") {
		t.Fatalf("no warning: %q", s)
	}
}
