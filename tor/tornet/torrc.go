package tornet

import (
	"fmt"
	"os"
	"strings"
)

// loopback is the only address anything of the private network binds or
// announces: nothing it starts may be reachable from, or reach, beyond
// this machine.
const loopback = "127.0.0.1"

type nodeKind int

const (
	kindAuthority nodeKind = iota
	kindRelay
)

// nodeSpec describes one tor of the network.
type nodeSpec struct {
	name    string // a0.., r0..
	kind    nodeKind
	exit    bool
	dir     string // DataDirectory; also holds torrc and logs
	orPort  int
	dirPort int // authorities only
}

// commonLines are written into every torrc of the network (tornet.md §4).
// Together with the private DirAuthority lines they make sure no tor we
// start can ever contact the public Tor network: TestingTorNetwork refuses
// to run with the default authorities, and DirAuthority replaces them.
func commonLines(n nodeSpec, dirAuthLines []string, hsdirFPs []string, ownerPID int) []string {
	l := []string{
		"TestingTorNetwork 1",
		"DataDirectory " + n.dir,
		"Nickname " + n.name,
		"ShutdownWaitLength 0",
		"Log notice file " + n.dir + "/notice.log",
		"SafeLogging 0",
		"LogTimeGranularity 1",
		// Parsing the GeoIP databases costs ~0.4 s CPU and ~35 MiB per tor
		// and is useless on 127.0.0.1 (tornet.md gotcha 1).
		`GeoIPFile ""`,
		`GeoIPv6File ""`,
		"ProtocolWarnings 1",
		"AssumeReachable 1",
		"PathsNeededToBuildCircuits 0.67",
		"TestingDirAuthVoteExit *",
		// Only authorities are HSDirs: they are the only directory caches
		// (relays run DirCache 0), so descriptors are always found.
		"TestingDirAuthVoteHSDir " + strings.Join(hsdirFPs, ","),
		"TestingDirAuthVoteGuard *",
		"TestingMinExitFlagThreshold 0",
		"V3AuthNIntervalsValid 2",
		// Second safety net after Stop: tor exits by itself (within ~15 s)
		// once the process that started the network is gone.
		fmt.Sprintf("__OwningControllerProcess %d", ownerPID),
	}
	return append(l, dirAuthLines...)
}

func authorityLines(n nodeSpec) []string {
	return []string{
		"AuthoritativeDirectory 1",
		"V3AuthoritativeDirectory 1",
		"ContactInfo " + n.name + "@test.invalid",
		"Address " + loopback,
		fmt.Sprintf("ORPort %s:%d", loopback, n.orPort),
		fmt.Sprintf("DirPort %s:%d", loopback, n.dirPort),
		"SocksPort 0",
		"ExitRelay 0",
		"ExitPolicy reject *:*",
		// Minimum values tor accepts (gotcha 5): first consensus after 5 s,
		// then one every 10 s.
		"TestingV3AuthInitialVotingInterval 5",
		"TestingV3AuthInitialVoteDelay 2",
		"TestingV3AuthInitialDistDelay 2",
		"V3AuthVotingInterval 10",
		"V3AuthVoteDelay 2",
		"V3AuthDistDelay 2",
		// Give every relay Stable, which onion circuits need (gotcha 3).
		"AuthDirVoteStableGuaranteeMinUptime 0",
		"AuthDirVoteStableGuaranteeMTBF 0",
		// Stops authority CPU creeping up with a consensus every 10 s (gotcha 6).
		"MaxConsensusAgeForDiffs 2 minutes",
	}
}

func relayLines(n nodeSpec) []string {
	l := []string{
		"Address " + loopback,
		fmt.Sprintf("ORPort %s:%d", loopback, n.orPort),
		"SocksPort 0",
		// Relay caches lag behind and 404 microdescriptors (gotcha 4).
		"DirCache 0",
	}
	if !n.exit {
		return append(l, "ExitRelay 0", "ExitPolicy reject *:*")
	}
	// Accept *:* after the private rules, or clients' policy summaries
	// make the exit look like a non-exit (gotcha 7). Nothing beyond this
	// machine is reachable anyway, and only tests choose what to dial.
	return append(l,
		"ExitRelay 1",
		"ExitPolicyRejectPrivate 0",
		"ExitPolicyRejectLocalInterfaces 0",
		"ExitPolicy accept 127.0.0.0/8:*",
		"ExitPolicy accept private:*",
		"ExitPolicy accept *:*",
		"ExitPolicy reject *:*",
	)
}

// dirAuthorityLine is the value of a DirAuthority option for one authority.
func dirAuthorityLine(n nodeSpec, k authorityKeys) string {
	return fmt.Sprintf("%s orport=%d no-v2 v3ident=%s %s:%d %s",
		n.name, n.orPort, k.v3Ident, loopback, n.dirPort, k.relayFP)
}

// clientOptions are the options that make a client tor join the private
// network (tornet.md "Minimal client torrc"), as key/value pairs so that
// torrc lines and command-line arguments come from one list.
// TestingTorNetwork is required: without it a client rejects the 10 s
// consensus interval.
func clientOptions(dirAuths []string) [][2]string {
	o := [][2]string{
		{"TestingTorNetwork", "1"},
		{"PathsNeededToBuildCircuits", clientPathsNeeded},
		{"LearnCircuitBuildTimeout", "0"},
		{"CircuitBuildTimeout", clientCircuitBuildTimeout},
	}
	for _, d := range dirAuths {
		o = append(o, [2]string{"DirAuthority", d})
	}
	return o
}

// clientLines are clientOptions as torrc lines.
func clientLines(dirAuths []string) []string {
	var l []string
	for _, o := range clientOptions(dirAuths) {
		l = append(l, o[0]+" "+o[1])
	}
	return l
}

// clientCircuitBuildTimeout (seconds, fixed: LearnCircuitBuildTimeout 0).
// Tor learns its circuit build timeout from the builds it sees. On
// 127.0.0.1 they take 15–200 ms, so it learns about 47 ms and abandons
// every build slower than that: 31 % of them on an idle machine. Under
// CPU load (an itest's dozens of tors on 2 cores) most intro and
// rendezvous circuits, the service's included, are abandoned and rebuilt,
// and an onion can stay unreachable for minutes (seen in itest/crash: a
// new maker's tor could not reach the directory for 3 minutes while no
// other tor logged a problem). Measured with 6 busy loops on 2 cores, 80
// fresh connections each: learned timeout median 0.40 s, p90 2.36 s, max
// 4.6 s; fixed 10 s median 0.20 s, p90 0.27 s, max 0.48 s. 10 s rides out
// a CPU stall and still leaves a 90-s onion dial several retries when a
// relay is really gone. Only the private network uses it: on the real
// network tor's learned timeout is right.
const clientCircuitBuildTimeout = "10"

// clientPathsNeeded: a client builds no circuit before it holds the
// microdescriptors of nearly every relay. The default (60 % of paths) lets
// a client of a 6-node network pick its vanguards-lite layer-2 set from the
// 3–4 relays it knows first; that set lives for days, and HS circuits then
// ask a relay to extend back to the previous hop and fail for minutes
// (seen once under CPU load: two tor itests dialing for 90 s in vain;
// tornet.md gotcha 2 is the same failure from a partial consensus).
const clientPathsNeeded = "0.95"

// writeTorrc writes lines to path, one option per line.
func writeTorrc(path string, lines []string) error {
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
