package daemon

import (
	"context"
	"encoding/hex"
	"path/filepath"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

// ChatDBName is the chat's database inside the data directory.
const ChatDBName = "chat.db"

// newChat: the encrypted chat of every maker and taker node (issue 13),
// direct over the node's tor, with its mailbox on the pool when the pool
// runs. Blacklisted origins are silenced; offer ids resolve in the
// pool's book.
func newChat(env *Env) (service.Service, error) {
	cfg := chat.Config{
		DBPath:  filepath.Join(env.Cfg.DataDir, ChatDBName),
		Network: ProtocolNetwork(env.Cfg.Network),
		Addr:    env.Onion,
		Dialer:  env.Transport,
		Logger:  env.Logs.For("chat"),
	}
	bl := env.Blacklist()
	cfg.Silenced = func(ctx context.Context, id [protocol.XOnlyKeySize]byte) (string, bool) {
		return bl.Listed(ctx, id, nil)
	}
	if env.pool != nil {
		cfg.Pool = env.pool
		book := market.NewBook(env.pool, env.offers)
		cfg.Offer = func(ctx context.Context, id string) (string, [protocol.XOnlyKeySize]byte, error) {
			var origin [protocol.XOnlyKeySize]byte
			e, err := book.Offer(ctx, id)
			if err != nil {
				return "", origin, err
			}
			_, err = hex.Decode(origin[:], []byte(e.Origin))
			return e.Addr, origin, err
		}
	}
	if tk := env.taker; tk != nil {
		cfg.SwapLeg = func(ctx context.Context, swapID, addr string) (string, bool) {
			ss, err := tk.Swaps(ctx)
			if err != nil {
				return "", false
			}
			for _, s := range ss {
				for _, l := range s.Legs {
					if s.ID == swapID && l.Addr == addr {
						return l.ID, true
					}
				}
			}
			return "", false
		}
	}
	s, err := chat.New(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	env.chat = s
	return s, nil
}
