package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/internal/securefile"
)

const (
	// SessionCookie starts the session cookie's name (CookieName).
	SessionCookie = "onionswap_session"
	// sessionIdle: a session unused this long ends (a browser tab left
	// open keeps it alive through its event stream).
	sessionIdle = 12 * time.Hour
	// maxSessions bounds the session table; the least recently used
	// goes first (one operator, a few browsers).
	maxSessions = 32
	// Password logins, for all clients together (over Tor every client
	// looks the same): 5 at once, then one every 12 s. A 256-bit cookie
	// cannot be guessed at any rate; this is for weak passwords, whose
	// guesses it holds to 7,200 a day.
	loginBurst = 5
	loginRate  = 1.0 / 12
	// MinPasswordLen: shorter passwords are refused when set.
	MinPasswordLen = 10
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane), which a
// Raspberry Pi computes in well under a second per login.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrBadLogin: the secret matches neither the cookie nor the password.
var ErrBadLogin = errors.New("dashboard: wrong cookie or password")

// ErrLoginThrottled: too many failed logins lately.
var ErrLoginThrottled = errors.New("dashboard: too many failed logins; wait a minute")

type session struct {
	csrf  string
	used  time.Time
	flash *flash // guarded by auth.mu
}

type auth struct {
	cfg      Config
	mu       sync.Mutex
	sessions map[[32]byte]*session // by the token's hash
	failures *ratelimit.Bucket
}

func newAuth(cfg Config) *auth {
	return &auth{cfg: cfg, sessions: map[[32]byte]*session{},
		failures: ratelimit.New(loginRate, loginBurst, cfg.Now)}
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// login checks secret and opens a session; it returns the session token.
//
// The cookie is checked first and never throttled (256 random bits cannot
// be guessed, and a flood of wrong passwords must not lock the owner
// out); every password attempt takes a token from the shared bucket
// before the argon2 work, which also bounds the CPU a flood costs.
func (a *auth) login(secret string) (string, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return "", ErrBadLogin
	}
	ok := false
	if c := a.cfg.Cookie(); c != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(c)) == 1 {
		ok = true
	} else if a.passwordSet() {
		if !a.failures.Allow() {
			return "", ErrLoginThrottled
		}
		ok, _ = CheckPassword(a.cfg.PasswordFile, secret)
	}
	if !ok {
		return "", ErrBadLogin
	}
	tok := randomToken()
	now := a.cfg.Now()
	a.mu.Lock()
	a.sessions[sha256.Sum256([]byte(tok))] = &session{csrf: randomToken(), used: now}
	a.pruneLocked(now)
	a.mu.Unlock()
	return tok, nil
}

// session returns the live session of token, touching it.
func (a *auth) session(token string) *session {
	if token == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(token))
	s := a.sessions[k]
	now := a.cfg.Now()
	if s == nil || now.Sub(s.used) > sessionIdle {
		delete(a.sessions, k)
		return nil
	}
	s.used = now
	return s
}

func (a *auth) logout(token string) {
	a.mu.Lock()
	delete(a.sessions, sha256.Sum256([]byte(token)))
	a.mu.Unlock()
}

func (a *auth) pruneLocked(now time.Time) {
	for k, s := range a.sessions {
		if now.Sub(s.used) > sessionIdle {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) > maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, s := range a.sessions {
			if at.IsZero() || s.used.Before(at) {
				oldest, at = k, s.used
			}
		}
		delete(a.sessions, oldest)
	}
}

// PasswordPath is where a node keeps its dashboard password's hash.
func PasswordPath(dataDir string) string { return filepath.Join(dataDir, "dashboard.password") }

// SetPassword writes password's argon2id hash to path (0600 from
// creation, atomically).
func SetPassword(path, password string) error {
	if len(password) < MinPasswordLen {
		return fmt.Errorf("dashboard: the password needs at least %d characters", MinPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	line := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s\n", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	return securefile.WriteAtomic(path, []byte(line), 0o600)
}

// CheckPassword compares password with the hash in path (false, nil:
// wrong; an error: no password set or an unreadable file).
func CheckPassword(path, password string) (bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	h, err := parseHash(strings.TrimSpace(string(raw)))
	if err != nil {
		return false, fmt.Errorf("dashboard: %s: %w", path, err)
	}
	got := argon2.IDKey([]byte(password), h.salt, h.t, h.m, h.p, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// argonHash is a parsed "$argon2id$v=19$m=19456,t=2,p=1$salt$key".
type argonHash struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// Bounds of a stored hash's parameters, checked before any work: a
// tampered file must not make a login take gigabytes or minutes.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 16
	maxArgonKey    = 64
	maxArgonSalt   = 64
)

func parseHash(s string) (argonHash, error) {
	var h argonHash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return h, errors.New("not an argon2id hash")
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &h.m, &h.t, &h.p); err != nil {
		return h, fmt.Errorf("parameters %q: %w", f[3], err)
	}
	if h.m == 0 || h.m > maxArgonMemory || h.t == 0 || h.t > maxArgonTime || h.p == 0 {
		return h, fmt.Errorf("parameters %q out of range", f[3])
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.DecodeString(f[4])
	h.key, err2 = base64.RawStdEncoding.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(h.key) == 0 || len(h.key) > maxArgonKey || len(h.salt) > maxArgonSalt {
		return h, errors.New("bad salt or key encoding")
	}
	return h, nil
}

// tokenEqual compares a CSRF token in constant time.
func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// shortHex is the first n hex digits of s's SHA-256: a short stable name.
func shortHex(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

// passwordSet: a password file exists (it is read at each login, so
// `dashboard password` takes effect without a restart).
func (a *auth) passwordSet() bool {
	if a.cfg.PasswordFile == "" {
		return false
	}
	_, err := os.Stat(a.cfg.PasswordFile)
	return err == nil
}

// CookieName is the session cookie's name for requests to host. Browsers
// keep cookies per host name, not per port, so two nodes' dashboards on
// one machine (a maker's and a taker's) would overwrite each other's
// session under one name.
func CookieName(host string) string { return SessionCookie + "_" + shortHex(strings.ToLower(host), 8) }
