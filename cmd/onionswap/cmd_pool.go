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
		})
}
