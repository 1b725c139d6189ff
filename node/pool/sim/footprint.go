package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// The footprint measurement: a node holding a full offer book. A holder
// in this process publishes the offers; a child process (this binary
// again, -footprint-child) runs a pool as the daemon does (pool.db on
// disk, a service server), joins the holder over the loopback transport
// (tor.Loopback: 127.0.0.1 TCP), syncs every offer, idles, and reports
// its memory. The child holds nothing but the node's pool, so its RSS is
// what the pool costs a node (tor and the wallet aside).
const (
	// footprintBodyMin/Max: offer bodies uniform in 1–2 KB (Bisq offers
	// ≈ 2 KB; issue 11 caps them at 4 KB).
	footprintBodyMin = 1024
	footprintBodyMax = 2048
	// footprintTTL: the offers' lifetime, the market-reference's 20 min.
	footprintTTL = 20 * time.Minute
	// footprintSyncTimeout: 5,000 offers over loopback sync in seconds;
	// a minute means something is broken.
	footprintSyncTimeout = time.Minute
	// footprintTarget: issue 11's 30 MB, decimal.
	footprintTarget = 30_000_000
)

// footprintReport is the child's answer, one JSON line on stdout.
type footprintReport struct {
	Messages int           `json:"messages"`
	Bytes    int           `json:"bytes"`
	SyncTime time.Duration `json:"sync_ns"`
	RSS      int64         `json:"rss"`
	RSSAnon  int64         `json:"rss_anon"`
	RSSFile  int64         `json:"rss_file"`
	// GoMapped: what the Go runtime holds from the OS and has not
	// returned (Sys − HeapReleased).
	GoMapped  uint64 `json:"go_mapped"`
	HeapInuse uint64 `json:"heap_inuse"`
	HeapAlloc uint64 `json:"heap_alloc"`
	Sys       uint64 `json:"sys"`
	DBBytes   int64  `json:"db_bytes"`
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// servePool runs p behind a node's inbound server on a loopback port.
func servePool(p *pool.Pool, lis net.Listener) (*service.Server, error) {
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest, Logger: quiet}, p)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := srv.Serve(lis); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return srv, nil
}

// runFootprint publishes n offers from n distinct origins in a holder
// pool, starts the child and prints what it reports.
func runFootprint(n int, idle time.Duration, heapProfile string, seed uint64) error {
	lb := tor.NewLoopback()
	defer lb.Close()
	lis, err := lb.Listen(context.Background())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := lis.Addr().String()
	holder, err := pool.New(pool.Config{Network: protocol.Regtest, ListenAddr: addr, Logger: quiet,
		MaxMessages: 2 * n, MaxBytes: 2 * n * (footprintBodyMax + protocol.MaxPoolEnvelopeSize)})
	if err != nil {
		lis.Close()
		return fmt.Errorf("holder: %w", err)
	}
	defer holder.Stop()
	srv, err := servePool(holder, lis)
	if err != nil {
		lis.Close()
		return err
	}
	defer srv.Stop()
	r := rand.New(rand.NewPCG(seed, 11))
	ctx := context.Background()
	for range n {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return err
		}
		body := make([]byte, footprintBodyMin+r.IntN(footprintBodyMax-footprintBodyMin+1))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		if _, err := holder.PublishWith(ctx, k, pool.TopicOffer, pool.NewItem(), body, footprintTTL, nil); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	total := 0
	for _, m := range holder.Messages("") {
		total += m.Size
	}
	dir, err := os.MkdirTemp("", "pool-footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-footprint-child", "-footprint-peer", addr, "-footprint-db", filepath.Join(dir, "pool.db"),
		"-footprint-n", strconv.Itoa(n), "-footprint-idle", idle.String()}
	if heapProfile != "" {
		args = append(args, "-footprint-heap", heapProfile)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("child: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	// The child waits for its stdin to close, so its RSS can be read
	// from outside while it still holds the pool.
	ext, extErr := statusKB(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid), "VmRSS")
	stdin.Close()
	waitErr := cmd.Wait()
	if err != nil {
		return fmt.Errorf("child report: %w (exit: %v)", err, waitErr)
	}
	var rep footprintReport
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("child report %q: %w", line, err)
	}
	if extErr != nil {
		return extErr
	}
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Printf("footprint: a node holding %d offers (%d origins, bodies %d–%d B, %s of envelopes) synced from a peer over the loopback transport in %v, then idle %v\n",
		rep.Messages, n, footprintBodyMin, footprintBodyMax, mib(int64(rep.Bytes)), rep.SyncTime.Round(time.Millisecond), idle)
	fmt.Printf("  RSS (VmRSS of the child, read from outside)  %s\n", mib(ext))
	fmt.Printf("  RSS (VmRSS the child read itself)            %s: %s anonymous, %s file-backed (the binary, libraries)\n",
		mib(rep.RSS), mib(rep.RSSAnon), mib(rep.RSSFile))
	fmt.Printf("  Go heap in use / live                        %s / %s\n", mib(int64(rep.HeapInuse)), mib(int64(rep.HeapAlloc)))
	fmt.Printf("  Go runtime's memory not returned to the OS   %s (Sys − HeapReleased; some of it never touched)\n", mib(int64(rep.GoMapped)))
	fmt.Printf("  pool.db (with its WAL)                       %s\n", mib(rep.DBBytes))
	verdict := "PASS"
	if ext > footprintTarget {
		verdict = "MISS"
	}
	fmt.Printf("  target ≤ 30 MB (28.6 MiB) RSS when idle: %s (envelopes held: %d of %d published, %d B)\n", verdict, rep.Messages, n, total)
	if waitErr != nil {
		return fmt.Errorf("child: %w", waitErr)
	}
	return nil
}

// footprintChild is the measured process: a pool as the daemon runs it,
// joined to peer.
func footprintChild(peer, db string, n int, idle time.Duration, heapProfile string) error {
	lb := tor.NewLoopback()
	defer lb.Close()
	lis, err := lb.Listen(context.Background())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	p, err := pool.New(pool.Config{Network: protocol.Regtest, ListenAddr: lis.Addr().String(),
		Dialer: lb, Bootstrap: []string{peer}, DBPath: db, Logger: quiet})
	if err != nil {
		lis.Close()
		return fmt.Errorf("pool: %w", err)
	}
	defer p.Stop()
	srv, err := servePool(p, lis)
	if err != nil {
		lis.Close()
		return err
	}
	defer srv.Stop()
	t0 := time.Now()
	if err := p.Start(context.Background()); err != nil {
		return err
	}
	for p.Len() < n {
		if time.Since(t0) > footprintSyncTimeout {
			return fmt.Errorf("synced %d of %d offers in %v", p.Len(), n, footprintSyncTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep := footprintReport{SyncTime: time.Since(t0)}
	// Idle: the batched writes to pool.db finish (every second), the
	// connection stays up with nothing to say; one collection, as the
	// runtime forces every 2 minutes in an idle daemon; idle again, while
	// the runtime's background scavenger returns freed pages to the OS.
	time.Sleep(idle / 2)
	runtime.GC()
	time.Sleep(idle / 2)
	st := p.Stats()
	rep.Messages, rep.Bytes = st.Messages+st.Tombstones, st.Bytes
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapInuse, rep.HeapAlloc, rep.Sys = ms.HeapInuse, ms.HeapAlloc, ms.Sys
	if rep.RSS, err = statusKB("/proc/self/status", "VmRSS"); err != nil {
		return err
	}
	if rep.RSSAnon, err = statusKB("/proc/self/status", "RssAnon"); err != nil {
		return err
	}
	if rep.RSSFile, err = statusKB("/proc/self/status", "RssFile"); err != nil {
		return err
	}
	rep.GoMapped = ms.Sys - ms.HeapReleased
	for _, f := range []string{db, db + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			rep.DBBytes += fi.Size()
		}
	}
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent has read our RSS
	return nil
}

// statusKB reads a "kB" field of a /proc/PID/status file, in bytes.
func statusKB(status, field string) (int64, error) {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("rss: no " + field + " line in " + status)
}
