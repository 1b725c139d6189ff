package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
)

const (
	chatPeer = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	chatConv = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	chatAddr = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd.onion:80"
)

// chatNode serves the chat's control endpoints on a data dir's socket with
// canned answers, and records the requests.
type chatNode struct {
	mu      sync.Mutex
	sends   []chat.SendRequest
	history []chat.HistoryRequest
	state   string    // of the next send's reply
	recent  time.Time // of the last two messages of the history
}

func (n *chatNode) lastSend() chat.SendRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sends[len(n.sends)-1]
}

func (n *chatNode) lastHistory() chat.HistoryRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.history[len(n.history)-1]
}

func startChatNode(t *testing.T, dir string) *chatNode {
	t.Helper()
	now := time.Now().UTC()
	n := &chatNode{state: "delivered", recent: now.Add(-time.Minute)}
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Post(r, "/v1/chat/send", func(_ context.Context, req chat.SendRequest) (chat.SendReply, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.sends = append(n.sends, req)
		if req.To == "nobody" {
			return chat.SendReply{}, fmt.Errorf("%w: chat: unknown peer: %q", control.ErrBadRequest, req.To)
		}
		return chat.SendReply{Conversation: chatConv, Peer: chatPeer, Seq: 3, State: n.state}, nil
	})
	control.Get(r, "/v1/chat/inbox", func(context.Context, control.Request) ([]chat.Conversation, error) {
		return []chat.Conversation{
			{ID: chatConv, Peer: chatPeer, Addr: chatAddr, Context: "offer 00112233445566778899aabbccddeeff",
				Unread: 2, Undelivered: 1, Last: now.Add(-90 * time.Minute)},
			{ID: strings.Repeat("d", 64), Peer: strings.Repeat("e", 64), Unread: 1, Last: now.Add(-3 * 24 * time.Hour)},
		}, nil
	})
	control.Post(r, "/v1/chat/history", func(_ context.Context, req chat.HistoryRequest) (chat.History, error) {
		n.mu.Lock()
		n.history = append(n.history, req)
		n.mu.Unlock()
		in := "read"
		if !req.MarkRead {
			in = "unread"
		}
		old := time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC)
		recent := n.recent
		return chat.History{
			Conversation: chat.Conversation{ID: chatConv, Peer: chatPeer, Addr: chatAddr, Context: "swap 0123456789abcdef0123456789abcdef"},
			Messages: []chat.Message{
				{Dir: "out", Seq: 1, Text: "hello", At: old, State: "read"},
				{Dir: "in", Seq: 1, Text: "hi\nsecond line \x1b[2J", At: old.Add(time.Minute), State: "read"},
				{Dir: "out", Seq: 2, Text: "still there?", At: recent, State: "stored"},
				{Dir: "in", Seq: 2, Text: "yes", At: recent, State: in},
			},
		}, nil
	})
	control.Get(r, "/v1/chat/status", func(context.Context, control.Request) (chat.StatusReply, error) {
		return chat.StatusReply{Identity: chatPeer, Unread: 3, Conversations: 2,
			Stats: map[string]uint64{"sent": 4, "received": 7, "mailbox_stored": 1}}, nil
	})
	serveControl(t, dir, r)
	return n
}

// TestChatSend: the text is the arguments after TO joined by spaces (or
// stdin for -), --swap reaches the request, and each delivery state is
// said in words.
func TestChatSend(t *testing.T) {
	dir := privateDir(t)
	n := startChatNode(t, dir)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		state string // the node's reply
		code  int
		want  string // in stdout (code 0) or stderr
		// wantReq: the request the node gets (none when zero).
		wantReq chat.SendRequest
	}{
		{"delivered", "", []string{chatAddr, "hello", "there,", "maker"}, "delivered", 0,
			"delivered  (conversation c0ffee00c0ff…, seq 3)\n", chat.SendRequest{To: chatAddr, Text: "hello there, maker"}},
		{"flags after the text", "", []string{chatPeer, "is", "it", "on?", "--swap", "0123abcd"}, "delivered", 0,
			"delivered", chat.SendRequest{To: chatPeer, Text: "is it on?", Swap: "0123abcd"}},
		{"stored", "", []string{chatPeer, "offline?"}, "stored", 0,
			"stored in the mailbox: the peer is offline; it gets the message when it comes back (conversation c0ffee00c0ff…, seq 3)\n",
			chat.SendRequest{To: chatPeer, Text: "offline?"}},
		{"sent", "", []string{chatPeer, "anyone?"}, "sent", 0,
			"sent: not delivered yet; the node keeps trying", chat.SendRequest{To: chatPeer, Text: "anyone?"}},
		{"stdin", "first line\nsecond line\n", []string{chatConv, "-"}, "delivered", 0,
			"delivered", chat.SendRequest{To: chatConv, Text: "first line\nsecond line"}},
		{"after --", "", []string{chatPeer, "--", "-5", "--json", "is", "text"}, "delivered", 0,
			"delivered", chat.SendRequest{To: chatPeer, Text: "-5 --json is text"}},
		{"json", "", []string{"--json", "0011", "x"}, "read", 0, `"state": "read"`, chat.SendRequest{To: "0011", Text: "x"}},
		{"unknown peer", "", []string{"nobody", "x"}, "", 1, "unknown peer", chat.SendRequest{To: "nobody", Text: "x"}},
		{"no text", "", []string{chatPeer}, "", 2, "want at least 2 arguments: TO TEXT...", chat.SendRequest{}},
		{"empty stdin", " \n", []string{chatPeer, "-"}, "", 2, "no text to send", chat.SendRequest{}},
		{"too long", strings.Repeat("é", 1001), []string{chatPeer, "-"}, "", 2,
			"the text is 2002 bytes; a chat message holds at most 2000", chat.SendRequest{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.mu.Lock()
			n.state = tc.state
			before := len(n.sends)
			n.mu.Unlock()
			code, out, errs := cli(t, tc.stdin, append([]string{"chat", "send", "--datadir", dir}, tc.args...)...)
			got := out
			if tc.code != 0 {
				got = errs
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q; want %q", code, tc.code, out, errs, tc.want)
			}
			n.mu.Lock()
			sent := len(n.sends) - before
			n.mu.Unlock()
			if tc.wantReq == (chat.SendRequest{}) {
				if sent != 0 {
					t.Fatalf("a refused command line reached the node: %+v", n.lastSend())
				}
				return
			}
			if req := n.lastSend(); sent != 1 || req != tc.wantReq {
				t.Fatalf("request %+v (%d), want %+v", req, sent, tc.wantReq)
			}
		})
	}
	code, out, _ := cli(t, "", "chat", "send", "--datadir", dir, "--json", chatPeer, "x")
	var rep chat.SendReply
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Conversation != chatConv || rep.Seq != 3 {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
}

// TestChatInboxHistoryStatus: the tables, --json, and --no-mark-read in
// the request.
func TestChatInboxHistoryStatus(t *testing.T) {
	dir := privateDir(t)
	n := startChatNode(t, dir)

	code, out, errs := cli(t, "", "chat", "inbox", "--datadir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("inbox: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"peer ", "a1b2c3d4e5f60718…", "abcdefghijklmnopqrstuv…", "offer 001122334455…", "2h ago", "3d ago",
		"2 conversations, 3 unread\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("inbox lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(out, "\n"); len(lines) != 5 || !strings.Contains(lines[2], "eeeeeeeeeeeeeeee…  -  ") {
		t.Fatalf("inbox:\n%s", out)
	}
	code, out, _ = cli(t, "", "chat", "inbox", "--datadir", dir, "--json")
	var cs []chat.Conversation
	if code != 0 || json.Unmarshal([]byte(out), &cs) != nil || len(cs) != 2 || cs[0].Peer != chatPeer {
		t.Fatalf("inbox --json: exit %d:\n%s", code, out)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantReq  chat.HistoryRequest
		wantLast string // the last line's start
	}{
		{"marks read", []string{chatAddr}, chat.HistoryRequest{Peer: chatAddr, MarkRead: true}, "peer  "},
		{"no mark read", []string{"--no-mark-read", chatPeer, "--limit", "50"}, chat.HistoryRequest{Peer: chatPeer, Limit: 50}, "peer  [unread]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", append([]string{"chat", "history", "--datadir", dir}, tc.args...)...)
			if code != 0 || errs != "" {
				t.Fatalf("history: exit %d, stderr %q", code, errs)
			}
			if req := n.lastHistory(); req != tc.wantReq {
				t.Fatalf("request %+v, want %+v", req, tc.wantReq)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 6 || lines[0] != "conversation "+chatConv+" with "+chatPeer+" at "+chatAddr+", swap 0123456789ab…" {
				t.Fatalf("history:\n%s", out)
			}
			for i, want := range []string{
				"2024-05-06 07:08  me    [read]    hello",
				"2024-05-06 07:09  peer            hi",
				strings.Repeat(" ", 34) + "second line \\x1b[2J",
			} {
				if lines[1+i] != want {
					t.Fatalf("line %d %q, want %q:\n%s", 1+i, lines[1+i], want, out)
				}
			}
			if at := n.recent.Format("15:04"); !strings.HasPrefix(lines[4], at+"             me    [stored]") ||
				!strings.Contains(lines[5], tc.wantLast) || !strings.HasSuffix(lines[5], "yes") {
				t.Fatalf("recent messages:\n%s", out)
			}
		})
	}
	code, out, _ = cli(t, "", "chat", "history", "--datadir", dir, "--json", chatPeer)
	var h chat.History
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.ID != chatConv || len(h.Messages) != 4 || h.Messages[1].Text != "hi\nsecond line \x1b[2J" {
		t.Fatalf("history --json: exit %d:\n%s", code, out)
	}
	if code, _, errs := cli(t, "", "chat", "history", "--datadir", dir); code != 2 || !strings.Contains(errs, "want 1 arguments") {
		t.Fatalf("history without a conversation: exit %d, %q", code, errs)
	}

	code, out, _ = cli(t, "", "chat", "status", "--datadir", dir)
	if code != 0 || !strings.Contains(out, "identity       "+chatPeer+"\n") || !strings.Contains(out, "unread         3\n") ||
		!strings.Contains(out, "stats          mailbox_stored=1 received=7 sent=4\n") {
		t.Fatalf("status: exit %d:\n%s", code, out)
	}
	code, out, _ = cli(t, "", "chat", "status", "--datadir", dir, "--json")
	var st chat.StatusReply
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Conversations != 2 || st.Stats["received"] != 7 {
		t.Fatalf("status --json: exit %d:\n%s", code, out)
	}
}

// TestStatusChatUnread: status shows unread chat messages, and nothing
// when there are none.
func TestStatusChatUnread(t *testing.T) {
	dir := t.TempDir()
	f := startFakeNode(t, dir, control.Status{Ready: true, State: control.StateReady, ChatUnread: 4})
	if code, out, _ := cli(t, "", "status", "--datadir", dir); code != 0 || !strings.Contains(out, "\nchat ") || !strings.Contains(out, " 4 unread\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if _, out, _ := cli(t, "", "status", "--datadir", dir, "--json"); !strings.Contains(out, `"chat_unread": 4`) {
		t.Fatalf("--json:\n%s", out)
	}
	f.set(control.Status{Ready: true, State: control.StateReady})
	if _, out, _ := cli(t, "", "status", "--datadir", dir); strings.Contains(out, "unread") {
		t.Fatalf("no unread messages, yet:\n%s", out)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(time.Minute), "0s ago"}, // a peer's clock ahead of ours
		{now.Add(-12 * time.Second), "12s ago"},
		{now.Add(-89 * time.Second), "1m ago"},
		{now.Add(-59*time.Minute - 40*time.Second), "1h ago"},
		{now.Add(-47 * time.Hour), "47h ago"},
		{now.Add(-60 * time.Hour), "3d ago"},
	} {
		if got := ago(tc.t, now); got != tc.want {
			t.Errorf("ago(%s) = %q, want %q", now.Sub(tc.t), got, tc.want)
		}
	}
}

// TestTakerSwapsChat: `taker swaps` shows each swap's conversation.
func TestTakerSwapsChat(t *testing.T) {
	dir := privateDir(t)
	const withChat, without = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	// A taker's chat with a maker is under the maker's own id of the swap.
	const viaLeg, leg = "11111111111111111111111111111111", "22222222222222222222222222222222"
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Get(r, "/v1/swaps", func(context.Context, control.Request) ([]control.SwapInfo, error) {
		return []control.SwapInfo{{ID: withChat, Role: "taker", Phase: "done"}, {ID: without, Role: "taker", Phase: "done"},
			{ID: viaLeg, Role: "taker", Phase: "done", Legs: []control.SwapLeg{{Addr: chatAddr, ID: leg}}}}, nil
	})
	control.Get(r, "/v1/chat/inbox", func(context.Context, control.Request) ([]chat.Conversation, error) {
		return []chat.Conversation{{ID: chatConv, Peer: chatPeer, Context: "swap " + withChat, Unread: 2},
			{ID: strings.Repeat("9", 64), Peer: chatPeer, Context: "swap " + leg, Unread: 1}}, nil
	})
	serveControl(t, dir, r)
	code, out, errOut := cli(t, "", "taker", "swaps", "--datadir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, withChat) && !strings.Contains(line, "2 unread (conversation "+chatConv+")"),
			strings.HasPrefix(line, viaLeg) && !strings.Contains(line, "1 unread (conversation "+strings.Repeat("9", 64)+")"),
			strings.HasPrefix(line, without) && !strings.HasSuffix(strings.TrimSpace(line), "-"):
			t.Errorf("line %q", line)
		}
	}
	if _, out, _ := cli(t, "", "taker", "swaps", "--datadir", dir, "--json"); !strings.Contains(out, `"context": "swap `+withChat) {
		t.Fatalf("--json:\n%s", out)
	}
}

// serveControl serves r on dir's control socket until the test ends.
func serveControl(t *testing.T, dir string, r *control.Router) {
	t.Helper()
	srv, err := control.NewServer(control.ServerConfig{DataDir: dir, Router: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
}
