package directory

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/onionswap/onionswap/internal/backoff"
	"github.com/onionswap/onionswap/protocol"
)

// Registrar timing.
const (
	// RefreshFraction: re-register after this fraction of the TTL the
	// directory granted, so one failed refresh (retried with back-off)
	// still lands before expiry. Jittered by ±RefreshJitter of the TTL so
	// makers that started together do not refresh together (syncthing:
	// Reannounce-After 3300 + rand(300) s of a 2 h expiry).
	RefreshFraction = 0.5
	RefreshJitter   = 0.05
	// MinRefresh bounds the refresh period from below whatever TTL a
	// directory announces (a hostile or broken TTL of 0 must not make us
	// spin).
	MinRefresh = time.Second

	// DefaultRetryMin / DefaultRetryMax: exponential back-off after a
	// failed attempt, doubling from 5 s (a Tor circuit hiccup) to 5 min
	// (btcd connmgr's maxRetryDuration), each delay jittered to
	// [½, 1]× so retrying makers spread out. 5 min is well inside the
	// 15 min left before expiry at a TTL/2 refresh.
	DefaultRetryMin = 5 * time.Second
	DefaultRetryMax = 5 * time.Minute

	// DefaultAttemptTimeout bounds one registration: a Tor dial
	// (tor.DefaultDialTimeout 90 s) + handshake + the directory's
	// verification (DefaultVerifyTimeout 30 s) + margin.
	DefaultAttemptTimeout = 3 * time.Minute
)

// RegistrarConfig configures a Registrar.
type RegistrarConfig struct {
	Dialer      Dialer
	Directories []string
	// Proof returns the proof to register, called before every attempt so
	// the maker can renew its certificate (expiry) or change address.
	Proof func(ctx context.Context) (protocol.FidelityProof, error)
	// Sign answers the directory's challenge with the bond key.
	Sign   ChallengeSigner
	Client ClientConfig

	RetryMin, RetryMax time.Duration
	AttemptTimeout     time.Duration
	// Logger; nil = slog.Default().With("subsystem", "directory").
	Logger *slog.Logger
}

// StaticProof returns a RegistrarConfig.Proof that always returns p.
func StaticProof(p protocol.FidelityProof) func(context.Context) (protocol.FidelityProof, error) {
	return func(context.Context) (protocol.FidelityProof, error) { return p, nil }
}

// DirStatus is a Registrar's view of one directory.
type DirStatus struct {
	Addr       string
	Registered bool          // the last attempt succeeded and its TTL has not run out
	LastAck    time.Time     // zero before the first success
	TTL        time.Duration // granted by the last Ack
	LastErr    error         // of the last attempt (nil after a success)
	Failures   int           // consecutive failed attempts
	Attempts   int           // all attempts
}

// Registrar keeps a maker registered with every configured directory.
type Registrar struct {
	cfg RegistrarConfig
	log *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	status  []DirStatus
	kick    []chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewRegistrar checks cfg; nothing runs until Start.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	switch {
	case cfg.Dialer == nil:
		return nil, errors.New("registrar: no Dialer")
	case len(cfg.Directories) == 0:
		return nil, errors.New("registrar: no Directories")
	case cfg.Proof == nil:
		return nil, errors.New("registrar: no Proof")
	case cfg.Sign == nil:
		return nil, errors.New("registrar: no Sign")
	case cfg.Client.Network == 0:
		return nil, errors.New("registrar: no Client.Network")
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "directory")
	}
	if cfg.Client.Logger == nil {
		cfg.Client.Logger = cfg.Logger
	}
	r := &Registrar{cfg: cfg, log: cfg.Logger}
	for _, d := range cfg.Directories {
		r.status = append(r.status, DirStatus{Addr: d})
		r.kick = append(r.kick, make(chan struct{}, 1))
	}
	return r, nil
}

// Start registers with every directory at once and keeps refreshing in
// the background until Stop. Idempotent; ctx is not retained.
func (r *Registrar) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i := range r.cfg.Directories {
		r.wg.Add(1)
		go r.run(ctx, i)
	}
	r.log.Info("registrar started", "directories", len(r.cfg.Directories))
}

// Stop ends all registration loops and waits for them. Idempotent. The
// entries stay listed until their TTL runs out.
func (r *Registrar) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// Refresh re-registers with every directory now (e.g. after the maker's
// address or bond changed) instead of at the next scheduled refresh.
func (r *Registrar) Refresh() {
	for _, k := range r.kick {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Status returns a snapshot per directory, in configuration order.
func (r *Registrar) Status() []DirStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]DirStatus(nil), r.status...)
	for i := range out {
		if out[i].Registered && time.Since(out[i].LastAck) >= out[i].TTL {
			out[i].Registered = false
		}
	}
	return out
}

func (r *Registrar) run(ctx context.Context, i int) {
	defer r.wg.Done()
	dir := r.cfg.Directories[i]
	failures, registered := 0, false
	for {
		ttl, err := r.attempt(ctx, dir)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		prevFailures := failures
		r.mu.Lock()
		st := &r.status[i]
		st.Attempts++
		st.LastErr = err
		if err == nil {
			failures = 0
			st.Registered, st.LastAck, st.TTL, st.Failures = true, time.Now(), ttl, 0
			wait = refreshDelay(ttl)
		} else {
			failures++
			st.Failures = failures
			wait = backoff.Delay(failures, r.cfg.RetryMin, r.cfg.RetryMax, true)
		}
		r.mu.Unlock()
		var ne *NackError
		switch {
		case err == nil && (!registered || prevFailures > 0):
			r.log.Info("registered with directory", "dir", i, "ttl", ttl, "after_failures", prevFailures)
		case err == nil:
			r.log.Debug("registration refreshed", "dir", i, "ttl", ttl)
		case errors.As(err, &ne):
			r.log.Warn("directory refused registration", "dir", i, "code", ne.Code, "reason", ne.Text, "retry_in", wait)
		default:
			// The error may name the directory's address: Debug only.
			r.log.Info("directory registration failed", "dir", i, "retry_in", wait)
			r.log.Debug("directory registration failed", "dir", i, "addr", dir, "err", err)
		}
		registered = registered || err == nil
		r.log.Debug("next registration", "dir", i, "addr", dir, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.kick[i]:
			t.Stop()
		}
	}
}

func (r *Registrar) attempt(ctx context.Context, dir string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	proof, err := r.cfg.Proof(ctx)
	if err != nil {
		return 0, err
	}
	return Register(ctx, r.cfg.Dialer, dir, proof, r.cfg.Sign, r.cfg.Client)
}

// refreshDelay is RefreshFraction ± RefreshJitter of ttl, at least
// MinRefresh.
func refreshDelay(ttl time.Duration) time.Duration {
	f := RefreshFraction + RefreshJitter*(2*rand.Float64()-1)
	return max(time.Duration(f*float64(ttl)), MinRefresh)
}
