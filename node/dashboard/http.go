package dashboard

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows the dashboard's own script, style and images only: no
// inline script (a value that slipped past escaping could not run), no
// framing (clickjacking), forms posting only to itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// csrfHeader carries the CSRF token of requests made by the page's script.
const csrfHeader = "X-CSRF-Token"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginPost)
	mux.HandleFunc("POST /logout", s.authed(s.logoutPost))
	mux.HandleFunc("GET /events/{page}", s.authed(s.events))
	mux.HandleFunc("POST /action/{action}", s.authed(s.action))
	mux.HandleFunc("GET /blacklist/export", s.authed(s.exportBlacklist))
	for _, p := range s.pages {
		mux.HandleFunc("GET "+p.Path, s.authed(s.pageHandler(p)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("dashboard: cross-origin request refused", "path", r.URL.Path)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return s.guard(cop.Handler(mux))
}

// guard sets the security headers on every response and refuses a Host
// that is not ours: a page of another site whose name is made to resolve
// to 127.0.0.1 (DNS rebinding) would be same-origin with the dashboard
// and could try logins or read the login page.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on our own form posts, and where it sends no
		// Sec-Fetch-Site (plain http on an onion address, outside Tor
		// Browser) the cross-origin check could not tell them from
		// another site's. No referrer leaves for other sites either way.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		if !s.hostAllowed(r.Host) {
			s.log.Debug("dashboard: request for another host refused")
			http.Error(w, "unknown host", http.StatusMisdirectedRequest)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// request is an authenticated request's session and token.
type request struct {
	*http.Request
	sess  *session
	token string
}

// authed passes requests with a live session; others go to the login
// page (GET) or are refused (anything else). State-changing requests
// also need the session's CSRF token.
func (s *Server) authed(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var tok string
		if c, err := r.Cookie(CookieName(r.Host)); err == nil {
			tok = c.Value
		}
		sess := s.auth.session(tok)
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/events/") &&
				r.URL.Path != "/blacklist/export" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get(csrfHeader)
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if !tokenEqual(got, sess.csrf) {
				http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, &request{Request: r, sess: sess, token: tok})
	}
}

type loginView struct {
	Next     string
	Error    string
	Password bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) renderLogin(w http.ResponseWriter, code int, v loginView) {
	v.Password = s.auth.passwordSet()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := s.login.ExecuteTemplate(w, "login", v); err != nil {
		s.log.Warn("dashboard: rendering the login page", "err", err)
	}
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	tok, err := s.auth.login(r.PostFormValue("secret"))
	if err != nil {
		code := http.StatusUnauthorized
		if errors.Is(err, ErrLoginThrottled) {
			code = http.StatusTooManyRequests
		}
		s.log.Info("dashboard: login refused", "reason", err)
		s.renderLogin(w, code, loginView{Next: next, Error: strings.TrimPrefix(err.Error(), "dashboard: ")})
		return
	}
	s.log.Info("dashboard: logged in")
	http.SetCookie(w, &http.Cookie{Name: CookieName(r.Host), Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionIdle / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logoutPost(w http.ResponseWriter, r *request) {
	s.auth.logout(r.token)
	http.SetCookie(w, &http.Cookie{Name: CookieName(r.Host), Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r.Request, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path, never a
// scheme or another host ("//evil", "/\evil").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}
