package tor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "managed needs data dir", cfg: Config{Mode: ModeManaged}, wantErr: "DataDir"},
		{name: "unknown mode", cfg: Config{Mode: "magic"}, wantErr: "unknown mode"},
		{name: "empty mode", cfg: Config{}, wantErr: "unknown mode"},
		{name: "bad port", cfg: Config{Mode: ModeAttach, OnionPort: 70000}, wantErr: "onion port"},
		{name: "negative timeout", cfg: Config{Mode: ModeAttach, DialTimeout: -1}, wantErr: "negative"},
		{name: "attach defaults", cfg: Config{Mode: ModeAttach}, check: func(t *testing.T, c Config) {
			if c.ControlAddr != DefaultControlAddr || c.OnionPort != DefaultOnionPort ||
				c.DialTimeout != DefaultDialTimeout || c.HealthInterval != DefaultHealthInterval ||
				c.BootstrapTimeout != DefaultBootstrapTimeout || c.PublishTimeout != DefaultPublishTimeout || c.Logger == nil {
				t.Fatalf("defaults not applied: %+v", c)
			}
		}},
		{name: "managed data dir made absolute", cfg: Config{Mode: ModeManaged, DataDir: "rel/tor"}, check: func(t *testing.T, c Config) {
			if c.DataDir[0] != '/' {
				t.Fatalf("DataDir %q", c.DataDir)
			}
		}},
		{name: "explicit values kept", cfg: Config{Mode: ModeAttach, DialTimeout: time.Second, OnionPort: 1234}, check: func(t *testing.T, c Config) {
			if c.DialTimeout != time.Second || c.OnionPort != 1234 {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				wantErrContains(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestMissingTorBinary: a clear error naming the apt command, at once.
func TestMissingTorBinary(t *testing.T) {
	tests := []struct {
		name    string
		torPath string
		path    string // PATH; "" keeps it
	}{
		{name: "explicit path", torPath: "/nonexistent/bin/tor"},
		{name: "not on PATH", path: t.TempDir()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testutil.LeakCheck(t)
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			_, err := NewTorTransport(context.Background(), Config{
				Mode: ModeManaged, DataDir: t.TempDir(), TorPath: tc.torPath, Logger: quietLogger()})
			if !errors.Is(err, ErrTorNotFound) {
				t.Fatalf("want ErrTorNotFound, got %v", err)
			}
			wantErrContains(t, err, "sudo apt-get install tor")
		})
	}
}

func TestBootstrapStatusString(t *testing.T) {
	b := BootstrapStatus{Progress: 5, Tag: "conn", Summary: "Connecting to a relay", Warning: "Connection refused"}
	if got, want := b.String(), "5% conn (Connecting to a relay); last warning: Connection refused"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
