package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/wallet"
)

// flash is the result of an action, shown once on the next page.
type flash struct {
	OK   bool
	Text string
}

func (a *auth) setFlash(sess *session, f *flash) {
	a.mu.Lock()
	sess.flash = f
	a.mu.Unlock()
}

func (sess *session) takeFlash(a *auth) *flash {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := sess.flash
	sess.flash = nil
	return f
}

// actionTimeout bounds an action's API call (a send, a chat message);
// a swap runs in the background instead (job).
const actionTimeout = 2 * time.Minute

// maxJobs bounds the dashboard's list of swaps it started.
const maxJobs = 16

// job is a swap started from the dashboard: TakerSwap returns when the
// swap ends, minutes later, so it runs in the background and the swaps
// page shows its progress (the swap's record) and then its result.
type job struct {
	Started time.Time
	Amount  int64
	Makers  []string
	Done    bool
	Report  *control.SwapReport
	Err     string
}

type jobView struct {
	job
	Running time.Duration
}

func (s *Server) jobViews() []jobView {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]jobView, 0, len(s.jobs))
	for i := len(s.jobs) - 1; i >= 0; i-- {
		out = append(out, jobView{*s.jobs[i], now.Sub(s.jobs[i].Started)})
	}
	return out
}

// action runs one POST /action/{action} and redirects to the page it
// belongs to (post/redirect/get), with its result as a flash.
func (s *Server) action(w http.ResponseWriter, r *request) {
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	f := r.PostFormValue
	back, msg, err := s.runAction(ctx, r, r.PathValue("action"), f)
	if back == "" {
		http.Error(w, "unknown action", http.StatusNotFound)
		return
	}
	if err != nil {
		s.auth.setFlash(r.sess, &flash{Text: strings.TrimPrefix(apiError(err), "control: ")})
	} else {
		s.auth.setFlash(r.sess, &flash{OK: true, Text: msg})
	}
	http.Redirect(w, r.Request, back, http.StatusSeeOther)
}

// runAction does the action; back is the page to return to ("" :
// unknown action).
func (s *Server) runAction(ctx context.Context, r *request, name string, f func(string) string) (back, msg string, err error) {
	switch name {
	case "address":
		kind := f("kind")
		a, err := s.api.NewAddress(ctx, kind)
		return "/wallet", "new address: " + a, err
	case "send":
		if f("confirm") != "on" {
			return "/wallet", "", fmt.Errorf("nothing sent: tick the confirmation first")
		}
		req := control.SendRequest{Address: strings.TrimSpace(f("address")), Max: f("max") == "on", Category: f("category")}
		if !req.Max {
			if req.Amount, err = parseSat(f("amount")); err != nil {
				return "/wallet", "", err
			}
		}
		rep, err := s.api.Send(ctx, req)
		if err != nil {
			return "/wallet", "", err
		}
		return "/wallet", fmt.Sprintf("sent: transaction %s, fee %d sat", rep.Txid, rep.Fee), nil
	case "swap":
		msg, err := s.startSwap(r)
		return "/swaps", msg, err
	case "publish":
		_, err := post[market.StatusReply](ctx, s, "/v1/market/publish", struct{}{})
		return "/maker", "offer published (it reaches the pool within a few seconds)", err
	case "withdraw":
		_, err := post[market.StatusReply](ctx, s, "/v1/market/withdraw", struct{}{})
		return "/maker", "offer withdrawn", err
	case "chat":
		to := strings.TrimSpace(f("to"))
		rep, err := post[chat.SendReply](ctx, s, "/v1/chat/send", chat.SendRequest{To: to, Text: f("text"), Swap: f("swap")})
		if err != nil {
			return "/chat?" + url.Values{"to": {to}}.Encode(), "", err
		}
		return "/chat?" + url.Values{"c": {rep.Conversation}}.Encode(), "message " + rep.State, nil
	case "coinjoin-start":
		req := coinjoin.StartRequest{Coin: f("coin")}
		if v := strings.TrimSpace(f("denomination")); v != "" {
			if req.Denomination, err = parseSat(v); err != nil {
				return "/coinjoin", "", err
			}
		}
		si, err := post[coinjoin.SessionInfo](ctx, s, "/v1/coinjoin/start", req)
		if err != nil {
			return "/coinjoin", "", err
		}
		return "/coinjoin", fmt.Sprintf("mixing %s (%d sat) into %d sat with T = %d", si.Coin, si.Value, si.Denomination, si.T), nil
	case "coinjoin-split":
		req := coinjoin.SplitRequest{From: f("from")}
		if req.Count, err = strconv.Atoi(strings.TrimSpace(f("count"))); err != nil {
			return "/coinjoin", "", fmt.Errorf("how many coins: a number")
		}
		if v := strings.TrimSpace(f("denomination")); v != "" {
			if req.Denomination, err = parseSat(v); err != nil {
				return "/coinjoin", "", err
			}
		}
		rep, err := post[coinjoin.SplitReply](ctx, s, "/v1/coinjoin/split", req)
		if err != nil {
			return "/coinjoin", "", err
		}
		return "/coinjoin", fmt.Sprintf("split: %d coins of %d sat in transaction %s (fee %d sat); they are mixed once confirmed",
			rep.Count, rep.Value, rep.Txid, rep.Fee), nil
	case "coinjoin-stop":
		_, err := post[struct{}](ctx, s, "/v1/coinjoin/stop", struct{}{})
		return "/coinjoin", "CoinJoin session stopped", err
	case "blacklist-add":
		_, err := post[[]wallet.BlacklistEntry](ctx, s, "/v1/market/blacklist/add",
			market.ListAddRequest{Kind: f("kind"), Value: strings.TrimSpace(f("value")), Reason: f("reason"), For: strings.TrimSpace(f("for"))})
		return "/blacklist", "added to the blacklist", err
	case "blacklist-remove":
		rep, err := post[market.ListRemoveReply](ctx, s, "/v1/market/blacklist/remove",
			market.ListRemoveRequest{Kind: f("kind"), Value: f("value")})
		if err == nil && !rep.Removed {
			return "/blacklist", "", fmt.Errorf("no such entry")
		}
		return "/blacklist", "removed from the blacklist", err
	case "blacklist-import":
		msg, err := s.importBlacklist(ctx, r)
		return "/blacklist", msg, err
	}
	return "", "", nil
}

// maxTxCount bounds the funding transactions per hop asked from the
// dashboard (the taker's own bound applies too).
const maxTxCount = 10

// startSwap starts a swap through the chosen offers in the background.
func (s *Server) startSwap(r *request) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	offers := r.PostForm["offer"]
	if len(offers) == 0 {
		return "", fmt.Errorf("choose at least one offer")
	}
	amount, err := parseSat(r.PostFormValue("amount"))
	if err != nil {
		return "", err
	}
	txCount := 1
	if v := r.PostFormValue("tx_count"); v != "" {
		if txCount, err = strconv.Atoi(v); err != nil || txCount < 1 || txCount > maxTxCount {
			return "", fmt.Errorf("transactions per hop: 1 to %d", maxTxCount)
		}
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return "", fmt.Errorf("the dashboard is stopping")
	}
	j := &job{Started: s.cfg.Now(), Amount: amount, Makers: offers}
	s.jobs = append(s.jobs, j)
	if len(s.jobs) > maxJobs {
		s.jobs = s.jobs[len(s.jobs)-maxJobs:]
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		rep, err := s.api.TakerSwap(s.ctx, control.TakerSwapRequest{Amount: amount, Makers: len(offers), TxCount: txCount, Offers: offers})
		s.mu.Lock()
		j.Done, j.Report = true, rep
		if err != nil {
			j.Err = apiError(err)
		}
		s.mu.Unlock()
		s.log.Info("dashboard: swap ended", "err", err)
	}()
	return fmt.Sprintf("swap of %d sat started through %d maker(s); its steps show below", amount, len(offers)), nil
}

// importBlacklist takes an uploaded blacklist file (`blacklist export`).
func (s *Server) importBlacklist(ctx context.Context, r *request) (string, error) {
	file, _, err := r.FormFile("file")
	if err != nil {
		return "", fmt.Errorf("choose a blacklist file: %w", err)
	}
	defer file.Close()
	var lf market.ListFile
	if err := json.NewDecoder(io.LimitReader(file, maxBody)).Decode(&lf); err != nil {
		return "", fmt.Errorf("not a blacklist file: %w", err)
	}
	rep, err := post[market.ListImportReply](ctx, s, "/v1/market/blacklist/import", lf)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("imported %d entries signed by %s", rep.Imported, rep.Signer), nil
}

// exportBlacklist downloads the signed blacklist file.
func (s *Server) exportBlacklist(w http.ResponseWriter, r *request) {
	lf, err := get[market.ListFile](r.Context(), s, "/v1/market/blacklist/export")
	if err != nil {
		http.Error(w, apiError(err), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="onionswap-blacklist.json"`)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(lf)
}

// parseSat reads an amount in satoshis ("1 000 000" and "1_000_000" too)
// or in BTC with a unit ("0.01 BTC").
func parseSat(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if b, ok := strings.CutSuffix(strings.ToLower(v), "btc"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if err != nil || f <= 0 || f > 21e6 {
			return 0, fmt.Errorf("amount %q: a number of BTC", v)
		}
		return int64(f*1e8 + 0.5), nil
	}
	v = strings.NewReplacer(" ", "", "_", "", ",", "", "\u202f", "").Replace(strings.TrimSuffix(strings.ToLower(v), "sat"))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("amount %q: a positive number of satoshis (or \"0.01 BTC\")", v)
	}
	return n, nil
}
