package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/protocol"
)

func init() {
	register(&command{
		path:     "chat send",
		summary:  "send a chat message through a running node",
		args:     "TO TEXT...",
		nargs:    2,
		variadic: true,
		help: "Send TEXT (the remaining arguments joined by spaces, or - to read it from\n" +
			"stdin, at most 2000 bytes) end-to-end encrypted to TO through the node\n" +
			"running on --datadir. TO is a peer's onion address, an offer id of the\n" +
			"book (its maker; the conversation is about that offer), a chat identity\n" +
			"(64 hex) or a conversation id. The node delivers directly when the peer\n" +
			"answers (delivered), else leaves the message in the pool's mailbox\n" +
			"(stored) until the peer comes back, and retries in the background.\n" +
			"After --, every word is text, dashes and all.",
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			swap := e.fs.String("swap", "", "tie the message to the conversation of swap `ID` (hex)")
			return func(ctx context.Context) error {
				text, err := chatText(e)
				if err != nil {
					return err
				}
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				rep, err := control.Call[chat.SendReply](ctx, c, http.MethodPost, "/v1/chat/send",
					chat.SendRequest{To: e.args[0], Text: text, Swap: *swap})
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				where := fmt.Sprintf("(conversation %s, seq %d)", short(rep.Conversation, 12), rep.Seq)
				switch rep.State {
				case "stored":
					fmt.Fprintf(e.stdout, "stored in the mailbox: the peer is offline; it gets the message when it comes back %s\n", where)
				case "sent":
					fmt.Fprintf(e.stdout, "sent: not delivered yet; the node keeps trying (directly, or by mailbox once it has the peer's key) %s\n", where)
				default: // delivered, read
					fmt.Fprintf(e.stdout, "%s  %s\n", rep.State, where)
				}
				return nil
			}
		},
	},
		infoCommand("chat inbox", "list a running node's chat conversations",
			"List the chat conversations of the node running on --datadir, the most\n"+
				"recent first: the peer's chat identity and last known onion address\n"+
				"(shortened; --json shows them whole), what the conversation is about (an\n"+
				"offer, a swap, or - for none), the peer's messages not read yet, ours\n"+
				"the peer does not have yet, and the age of the last message.",
			func(c *control.Client, ctx context.Context) ([]chat.Conversation, error) {
				return control.Call[[]chat.Conversation](ctx, c, http.MethodGet, "/v1/chat/inbox", nil)
			},
			func(e *env, cs []chat.Conversation) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "peer\taddr\tcontext\tunread\tundelivered\tlast\n")
				unread := 0
				for _, cv := range cs {
					unread += cv.Unread
					addr := "-"
					if cv.Addr != "" {
						addr = short(cv.Addr, 22)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", short(cv.Peer, 16), clean(addr), chatContext(cv.Context),
						cv.Unread, cv.Undelivered, ago(cv.Last, time.Now()))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(e.stdout, "%d conversations, %d unread\n", len(cs), unread)
				return err
			}),
		&command{
			path:    "chat history",
			summary: "show a chat conversation of a running node",
			args:    "CONVERSATION",
			nargs:   1,
			help: "Show the messages of a chat conversation of the node running on --datadir,\n" +
				"oldest first: time (UTC; the date too when older than a day), who wrote it,\n" +
				"the state of ours (sent, stored in the mailbox, delivered, read) and the\n" +
				"text. CONVERSATION is a conversation id, or a peer's chat identity, onion\n" +
				"address or offer id (its most recent conversation). Showing them marks\n" +
				"the peer's messages read, and the peer learns it, unless --no-mark-read.",
			opts: useInfo,
			setup: func(e *env) func(context.Context) error {
				asJSON := e.fs.Bool("json", false, "print JSON")
				limit := e.fs.Int("limit", 0, "show the last `N` messages (0: the node's default, 200)")
				noMark := e.fs.Bool("no-mark-read", false, "leave the peer's messages unread")
				return func(ctx context.Context) error {
					if *limit < 0 {
						return e.usagef("--limit %d: want 0 or more", *limit)
					}
					c, err := infoClient(e)
					if err != nil {
						return err
					}
					defer c.Close()
					h, err := control.Call[chat.History](ctx, c, http.MethodPost, "/v1/chat/history",
						chat.HistoryRequest{Peer: e.args[0], Limit: *limit, MarkRead: !*noMark})
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(e.stdout, h)
					}
					return showHistory(e.stdout, h, time.Now())
				}
			},
		},
		infoCommand("chat status", "show a running node's chat identity and counters",
			"Show the chat identity of the node running on --datadir (its peers know it\n"+
				"by it), how many conversations it has, how many messages are unread, and\n"+
				"its chat counters.",
			func(c *control.Client, ctx context.Context) (chat.StatusReply, error) {
				return control.Call[chat.StatusReply](ctx, c, http.MethodGet, "/v1/chat/status", nil)
			},
			func(e *env, s chat.StatusReply) error {
				keys := make([]string, 0, len(s.Stats))
				for k := range s.Stats {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				stats := make([]string, 0, len(keys))
				for _, k := range keys {
					stats = append(stats, fmt.Sprintf("%s=%d", k, s.Stats[k]))
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "identity\t%s\n", s.Identity)
				fmt.Fprintf(tw, "conversations\t%d\n", s.Conversations)
				fmt.Fprintf(tw, "unread\t%d\n", s.Unread)
				if len(stats) > 0 {
					fmt.Fprintf(tw, "stats\t%s\n", strings.Join(stats, " "))
				}
				return tw.Flush()
			}),
	)
}

// chatText is the text of `chat send`: the arguments after TO joined by
// spaces, or stdin for "-".
func chatText(e *env) (string, error) {
	text := strings.Join(e.args[1:], " ")
	if len(e.args) == 2 && e.args[1] == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return "", fmt.Errorf("reading the text from stdin: %w", err)
		}
		text = string(b)
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return "", e.usagef("no text to send")
	case len(text) > protocol.MaxChatText:
		return "", e.usagef("the text is %d bytes; a chat message holds at most %d", len(text), protocol.MaxChatText)
	}
	return text, nil
}

// showHistory prints a conversation: a header, then one message a line
// (continuation lines of a message under its text).
func showHistory(w io.Writer, h chat.History, now time.Time) error {
	about := ""
	if h.Context != "" {
		about = ", " + chatContext(h.Context)
	}
	addr := ""
	if h.Addr != "" {
		addr = " at " + clean(h.Addr)
	}
	fmt.Fprintf(w, "conversation %s with %s%s%s\n", h.ID, h.Peer, addr, about)
	if len(h.Messages) == 0 {
		_, err := fmt.Fprintln(w, "no messages")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range h.Messages {
		who, state := "peer", ""
		if m.Dir == "out" {
			who, state = "me", "["+m.State+"]"
		} else if m.State == "unread" {
			state = "[unread]"
		}
		lines := strings.Split(clean(m.Text), "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", msgTime(m.At, now), who, state, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t\t%s\n", l)
		}
	}
	return tw.Flush()
}

// msgTime is a message's time in UTC: HH:MM within a day of now, with the
// date before.
func msgTime(t, now time.Time) string {
	if now.Sub(t) < 24*time.Hour {
		return t.UTC().Format("15:04")
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// ago is the age of t, rounded to its largest unit ("-" for none).
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(now.Sub(t), 0)
	for _, u := range []struct {
		unit, below time.Duration
		name        string
	}{{time.Second, time.Minute, "s"}, {time.Minute, time.Hour, "m"}, {time.Hour, 48 * time.Hour, "h"}} {
		if r := d.Round(u.unit); r < u.below {
			return fmt.Sprintf("%d%s ago", r/u.unit, u.name)
		}
	}
	return fmt.Sprintf("%dd ago", d.Round(24*time.Hour)/(24*time.Hour))
}

// chatContext is a conversation's context for a table: "-", "offer
// 0123…", "swap 4567…".
func chatContext(c string) string {
	kind, id, ok := strings.Cut(c, " ")
	if !ok {
		if c == "" {
			return "-"
		}
		return clean(c)
	}
	return kind + " " + short(clean(id), 12)
}

// short cuts s to n bytes and an ellipsis.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// clean makes a peer's text safe for a terminal: control characters (an
// escape sequence could rewrite the screen) are shown as \xNN, tabs as a
// space; line breaks stay.
func clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
