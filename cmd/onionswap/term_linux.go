package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Terminal handling for the passphrase prompt, with the TCGETS/TCSETS
// ioctls of package syscall (no new dependency).

func getTermios(fd uintptr) (*syscall.Termios, error) {
	var t syscall.Termios
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t))); errno != 0 {
		return nil, errno
	}
	return &t, nil
}

func setTermios(fd uintptr, t *syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(t))); errno != 0 {
		return errno
	}
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := getTermios(f.Fd())
	return err == nil
}

// readPassword prints prompt to w and reads a line from the terminal f
// with echo off; the terminal is restored however the read ends (ctx:
// Ctrl-C).
func readPassword(ctx context.Context, f *os.File, w io.Writer, prompt string) (string, error) {
	fd := f.Fd()
	old, err := getTermios(fd)
	if err != nil {
		return "", err
	}
	t := *old
	t.Lflag &^= syscall.ECHO
	t.Lflag |= syscall.ICANON | syscall.ISIG
	t.Iflag |= syscall.ICRNL
	if err := setTermios(fd, &t); err != nil {
		return "", err
	}
	defer func() {
		_ = setTermios(fd, old)
		fmt.Fprintln(w)
	}()
	fmt.Fprint(w, prompt)
	return readLine(ctx, f)
}
