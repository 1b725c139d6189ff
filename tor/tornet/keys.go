package tornet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// authorityKeys is what a client or relay needs to trust one of our
// directory authorities: the DirAuthority line is built from it.
type authorityKeys struct {
	// v3Ident is the hex fingerprint of the authority's v3 identity key
	// (from authority_certificate); it signs votes and the consensus.
	v3Ident string
	// relayFP is the hex fingerprint of the authority's relay identity
	// key (from `tor --list-fingerprint`); clients pin the ORPort to it.
	relayFP string
}

// certMonths is the validity of the authority certificate. The network
// lives for one test run or demo, so the value only has to exceed that;
// 12 is what tornet.md measured with.
const certMonths = "12"

// genAuthorityKeys creates the v3 authority identity, signing key and
// certificate with tor-gencert and the relay identity with
// `tor --list-fingerprint`, inside n.dir/keys. Authorities are generated
// in parallel by the caller: RSA-3072 costs about 1.7 s of CPU each.
func genAuthorityKeys(ctx context.Context, torPath, gencertPath, emptyTorrc string, n nodeSpec) (authorityKeys, error) {
	keysDir := filepath.Join(n.dir, "keys")
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return authorityKeys{}, fmt.Errorf("tornet: %s: %w", n.name, err)
	}
	gencert := exec.CommandContext(ctx, gencertPath,
		"--create-identity-key", "--passphrase-fd", "0", "-m", certMonths,
		"-a", fmt.Sprintf("%s:%d", loopback, n.dirPort),
		"-i", filepath.Join(keysDir, "authority_identity_key"),
		"-s", filepath.Join(keysDir, "authority_signing_key"),
		"-c", filepath.Join(keysDir, "authority_certificate"))
	// An empty passphrase: the keys only ever protect a throw-away network.
	gencert.Stdin = strings.NewReader("\n")
	if out, err := gencert.CombinedOutput(); err != nil {
		return authorityKeys{}, fmt.Errorf("tornet: tor-gencert for %s: %w: %s", n.name, err, bytes.TrimSpace(out))
	}
	listFP := exec.CommandContext(ctx, torPath, "--list-fingerprint",
		"-f", emptyTorrc, "--defaults-torrc", emptyTorrc,
		"--DataDirectory", n.dir,
		"--ORPort", fmt.Sprintf("%s:%d", loopback, n.orPort),
		"--Nickname", n.name, "--quiet",
		"--GeoIPFile", "", "--GeoIPv6File", "",
		// Any non-default authority keeps this short-lived tor from
		// treating itself as a public relay; it never touches the network.
		"--DirAuthority", "x 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff")
	if out, err := listFP.CombinedOutput(); err != nil {
		return authorityKeys{}, fmt.Errorf("tornet: tor --list-fingerprint for %s: %w: %s", n.name, err, bytes.TrimSpace(out))
	}
	v3, err := fieldAfter(filepath.Join(keysDir, "authority_certificate"), "fingerprint")
	if err != nil {
		return authorityKeys{}, fmt.Errorf("tornet: %s: %w", n.name, err)
	}
	fp, err := fieldAfter(filepath.Join(n.dir, "fingerprint"), n.name)
	if err != nil {
		return authorityKeys{}, fmt.Errorf("tornet: %s: %w", n.name, err)
	}
	return authorityKeys{v3Ident: v3, relayFP: fp}, nil
}

// fieldAfter returns the rest of the first line of path that starts with
// key followed by a space, with spaces removed (fingerprints are sometimes
// printed in groups of four).
func fieldAfter(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key+" "); ok {
			fp := strings.ReplaceAll(strings.TrimSpace(rest), " ", "")
			if len(fp) != 40 {
				return "", fmt.Errorf("%s: malformed fingerprint %q", path, rest)
			}
			return strings.ToUpper(fp), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no %q line", path, key)
}
