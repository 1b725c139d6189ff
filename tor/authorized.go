package tor

import (
	"context"
	"errors"
	"fmt"
)

// AuthorizedService describes an onion service that only clients holding
// an authorized x25519 key can reach (Tor v3 client authorization), e.g.
// the node's web dashboard.
//
// Why a service of its own rather than another port of the node's: every
// peer knows the node's address, and whoever knows an onion address can
// probe all of its ports. On its own key the dashboard's address is
// unrelated to the node's, so the node's public address reveals neither
// that a dashboard exists nor where.
//
// What client authorization protects against: the service's descriptor
// is encrypted to the authorized clients' keys, so without one a client
// cannot read the introduction points and cannot even start a connection:
// a scanner, an HSDir, or anyone who learnt the address from a log, a
// browser history or a screenshot gets "client authorization required"
// (SOCKS 0xF4, ErrClientAuth) and nothing reaches our listener, not even
// a login page to brute-force.
//
// What it does not protect against: a leaked private key (anyone holding
// it is in, until the service is re-added without that public key); an
// authorized client (it is not a login: the dashboard decides what a
// connected client may do); the service learning anything about its
// clients (all look alike to it); the service being online (anyone who
// knows the address can still fetch the encrypted descriptor, whose
// outer layer is public, and see it is published; the number of
// authorized clients shows up to tor's padding to a multiple of 16); nor
// anything on the local side (the listener is a plain TCP port on
// 127.0.0.1, reachable by local processes).
type AuthorizedService struct {
	// KeyFile holds the service's ed25519 key, in the same format as
	// Config.KeyFile (created 0600 if missing): the address persists
	// across restarts. It must differ from Config.KeyFile.
	KeyFile string
	// Port is the virtual port clients dial, e.g. 80 for a web page.
	Port int
	// ClientAuth are the authorized clients' public keys; at least one.
	// Duplicates are ignored.
	ClientAuth []ClientAuthKey
}

// ListenAuthorized publishes a persistent onion service restricted by v3
// client authorization (see AuthorizedService) on its own local listener
// and returns once tor has accepted it; WaitPublished tells when clients
// can find it. Any number may exist at once, besides Listen's and the
// ephemeral ones, each on its own key. Like the node's service it is
// re-added, with the same address and client keys, after a tor restart
// or reconnection, and gets the same stream cap and proof-of-work
// defence. Close removes it from tor; closing the transport closes it.
//
// To change the set of authorized clients, Close the listener and call
// ListenAuthorized again with the same KeyFile: same address, new keys.
func (t *TorTransport) ListenAuthorized(ctx context.Context, opts AuthorizedService) (*OnionListener, error) {
	if opts.KeyFile == "" {
		return nil, errors.New("tor: authorized onion service needs a KeyFile")
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, fmt.Errorf("tor: authorized onion service: invalid port %d", opts.Port)
	}
	keys, err := uniqueClientKeys(opts.ClientAuth)
	if err != nil {
		return nil, err
	}
	key, created, err := LoadOrCreateOnionKey(opts.KeyFile)
	if err != nil {
		return nil, err
	}
	if created {
		t.log.Info("new onion key created for an authorized service", "file", opts.KeyFile)
	}
	return t.listen(ctx, serviceSpec{key: key, port: opts.Port, clientAuth: keys})
}

// uniqueClientKeys copies keys (the caller may reuse its slice), without
// duplicates; it refuses an empty list, which would publish the service
// to everyone, and an all-zero key.
func uniqueClientKeys(keys []ClientAuthKey) ([]ClientAuthKey, error) {
	if len(keys) == 0 {
		return nil, errors.New("tor: authorized onion service needs at least one client key")
	}
	seen := make(map[ClientAuthKey]bool, len(keys))
	out := make([]ClientAuthKey, 0, len(keys))
	for _, k := range keys {
		if k == (ClientAuthKey{}) {
			return nil, fmt.Errorf("%w: client auth public key is all zero", ErrKeyFormat)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}
