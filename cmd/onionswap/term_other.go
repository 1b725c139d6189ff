//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// isTerminal: the prompt is Linux-only; elsewhere use --passphrase-file.
func isTerminal(*os.File) bool { return false }

func readPassword(context.Context, *os.File, io.Writer, string) (string, error) {
	return "", errors.New("no passphrase prompt on this system: use --passphrase-file")
}
