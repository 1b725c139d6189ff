package tor

import "errors"

// Sentinel errors; test with errors.Is. Returned errors wrap them with
// the details (address, tor's reply, file path).
var (
	// ErrTorNotFound: the tor binary is not installed or not on PATH.
	ErrTorNotFound = errors.New("tor binary not found: install it with `sudo apt-get install tor` or set the tor path")
	// ErrBootstrapTimeout: tor did not reach 100 % within BootstrapTimeout.
	ErrBootstrapTimeout = errors.New("tor did not finish bootstrapping in time")
	// ErrPublishTimeout: no HSDir confirmed our descriptor within
	// PublishTimeout (tor keeps trying; the service may still appear).
	ErrPublishTimeout = errors.New("onion service descriptor not published in time")
	// ErrControl: tor's control port refused or failed a command.
	ErrControl = errors.New("tor control port error")
	// ErrAuth: control port authentication failed or is impossible.
	ErrAuth = errors.New("tor control port authentication failed")
	// ErrOnionUnreachable: tor could not reach the onion service (no
	// descriptor, introduction or rendezvous failed, host unreachable).
	ErrOnionUnreachable = errors.New("onion service unreachable")
	// ErrClientAuth: the onion service is restricted by v3 client
	// authorization and this tor holds no key for it (SOCKS reply 0xF4)
	// or a wrong one (0xF5). Retrying does not help; adding the key does.
	ErrClientAuth = errors.New("onion service requires client authorization")
	// ErrInvalidOnionAddress: not a valid v3 "<56 chars>.onion:<port>".
	ErrInvalidOnionAddress = errors.New("invalid onion address")
	// ErrDialTimeout: an onion dial did not complete within DialTimeout.
	ErrDialTimeout = errors.New("onion dial timed out")
	// ErrSOCKS: tor's SOCKS port failed a request for another reason.
	ErrSOCKS = errors.New("tor SOCKS error")
	// ErrKeyPermissions: the onion key file is readable by group or others.
	ErrKeyPermissions = errors.New("onion key file has unsafe permissions")
	// ErrKeyFormat: the onion key file is not a Tor ed25519 v3 secret key.
	ErrKeyFormat = errors.New("onion key file is malformed")
	// ErrAlreadyListening: the transport already publishes its service.
	ErrAlreadyListening = errors.New("tor transport is already listening")
	// ErrOnionLost: an ephemeral onion service (ListenEphemeral) was lost
	// when tor restarted or its control connection dropped; it is not
	// re-added.
	ErrOnionLost = errors.New("ephemeral onion service lost with its tor session")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("tor transport closed")
	// ErrTorUnavailable: tor died or the connection to it was lost and
	// has not been re-established yet.
	ErrTorUnavailable = errors.New("tor unavailable")
)
