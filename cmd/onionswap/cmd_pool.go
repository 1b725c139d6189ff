package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/pool"
)

func init() {
	register(infoCommand("pool peers", "list a running node's message pool peers and bans",
		"List the message pool peers of the node running on --datadir (outbound,\nprotected, score, bytes) and the peers it banned, with why and until when.",
		func(c *control.Client, ctx context.Context) (pool.PeersReply, error) {
			return control.Call[pool.PeersReply](ctx, c, http.MethodGet, "/v1/pool/peers", nil)
		},
		func(e *env, r pool.PeersReply) error {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "peer\tdirection\tscore\tsent\treceived\tsince\n")
			for _, p := range r.Peers {
				dir := "inbound"
				if p.Outbound {
					dir = "outbound"
					if p.Protected {
						dir += " (protected)"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1f\t%d\t%d\t%s\n", p.Addr, dir, p.Score, p.BytesSent, p.BytesRecv, p.Connected.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, b := range r.Bans {
				fmt.Fprintf(e.stdout, "banned %+v\n", b)
			}
			return nil
		}),
		infoCommand("pool stats", "show a running node's message pool counters",
			"Show what the message pool of the node running on --datadir holds and has\nrefused, by reason.",
			func(c *control.Client, ctx context.Context) (pool.Stats, error) {
				return control.Call[pool.Stats](ctx, c, http.MethodGet, "/v1/pool/stats", nil)
			},
			func(e *env, s pool.Stats) error {
				w := e.stdout
				fmt.Fprintf(w, "messages %d (own %d), %d bytes, tombstones %d\n", s.Messages, s.Own, s.Bytes, s.Tombstones)
				fmt.Fprintf(w, "peers %d (%d outbound, %d inbound), %d addresses known, %d bans\n",
					s.Peers, s.Outbound, s.Inbound, s.KnownAddrs, s.Bans)
				fmt.Fprintf(w, "accepted %d, duplicates %d, expired %d, evicted %d\n", s.Accepted, s.Duplicates, s.Expired, s.Evicted)
				reasons := make([]string, 0, len(s.Refused))
				for r := range s.Refused {
					reasons = append(reasons, r)
				}
				sort.Strings(reasons)
				for _, r := range reasons {
					fmt.Fprintf(w, "refused %s: %d\n", r, s.Refused[r])
				}
				return nil
			}),
		&command{
			path:    "pool messages",
			summary: "list the messages a running node's pool holds",
			help:    "List the messages (and removals) the message pool of the node running on\n--datadir holds, of one topic with --topic.",
			opts:    useInfo,
			setup: func(e *env) func(context.Context) error {
				asJSON := e.fs.Bool("json", false, "print JSON")
				topic := e.fs.String("topic", "", "only the messages of `TOPIC`")
				return func(ctx context.Context) error {
					c, err := infoClient(e)
					if err != nil {
						return err
					}
					defer c.Close()
					ms, err := control.Call[[]pool.Message](ctx, c, http.MethodGet, "/v1/pool/messages?topic="+url.QueryEscape(*topic), nil)
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(e.stdout, ms)
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintf(tw, "topic\torigin\titem\tseq\tsize\texpires\n")
					for _, m := range ms {
						kind := ""
						if m.Removal {
							kind = " (removal)"
						}
						fmt.Fprintf(tw, "%s\t%.16s…\t%s\t%d%s\t%d\t%s\n", m.Topic, m.Origin, m.Item, m.Seq, kind, m.Size, m.Expires.Format(time.RFC3339))
					}
					return tw.Flush()
				}
			},
		},
		poolPostCommand("pool publish", "ITEM TEXT", 2,
			"publish a message on a running node's pool (regtest's test topic)",
			"Publish TEXT as item ITEM (32 hex digits, or any name: then its SHA-256's\nfirst 16 bytes) signed by the node's pool identity, through the node running\non --datadir. Only the test topic "+pool.TopicTest+" takes messages from here, and\nonly on regtest: the marketplace publishes offers itself. A newer publish of\nthe same item replaces the older one everywhere.",
			func(e *env) func() any {
				topic := e.fs.String("topic", pool.TopicTest, "`TOPIC` of the message: only "+pool.TopicTest+" takes messages from here")
				ttl := e.fs.Duration("ttl", pool.DefaultControlTTL, "the message's lifetime, a `DURATION` such as 20s or 10m")
				return func() any {
					return pool.PublishRequest{Topic: *topic, Item: e.args[0], Body: e.args[1], TTL: ttl.String()}
				}
			}, "/v1/pool/publish"),
		poolPostCommand("pool remove", "ITEM", 1,
			"remove a message the running node published on its pool (regtest's test topic)",
			"Publish a signed removal of ITEM, a message the node running on --datadir\npublished with onionswap pool publish: it replaces the message everywhere\nand outlives it. Only on the test topic "+pool.TopicTest+" (regtest).",
			func(e *env) func() any {
				topic := e.fs.String("topic", pool.TopicTest, "`TOPIC` of the message: only "+pool.TopicTest+" takes messages from here")
				return func() any { return pool.RemoveRequest{Topic: *topic, Item: e.args[0]} }
			}, "/v1/pool/remove"),
	)
}

// poolPostCommand is `pool publish|remove`: flags and arguments make one
// request to the running node; the reply is the envelope's id.
func poolPostCommand(path, args string, nargs int, summary, help string, setup func(e *env) func() any, endpoint string) *command {
	return &command{path: path, args: args, nargs: nargs, summary: summary, help: help, opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			req := setup(e)
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				rep, err := control.Call[pool.PublishReply](ctx, c, http.MethodPost, endpoint, req())
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				_, err = fmt.Fprintf(e.stdout, "item %s\nid %s\n", rep.Item, rep.ID)
				return err
			}
		},
	}
}
