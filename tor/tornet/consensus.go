package tornet

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// consensusFile is where an authority keeps the latest microdescriptor
// consensus, the flavour clients fetch (tornet.md step 4).
const consensusFile = "cached-microdesc-consensus"

// parseConsensusFlags maps each router nickname of a microdesc consensus
// to its flags ("r" line followed by its "s" line).
func parseConsensusFlags(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	routers := map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "r":
			if len(fields) < 2 {
				return nil, fmt.Errorf("%s: malformed r line", path)
			}
			cur = fields[1]
			routers[cur] = nil
		case "s":
			if cur != "" {
				routers[cur] = fields[1:]
			}
		}
	}
	return routers, sc.Err()
}

// wantFlags is what a consensus must say about node n before clients may
// start: every node a Guard (so guard and vanguard sets are not built from
// a partial network, gotcha 2), Stable (onion circuits need it), Running
// and Valid; exits Exit; authorities HSDir.
func wantFlags(n nodeSpec) []string {
	f := []string{"Guard", "Running", "Stable", "Valid"}
	if n.exit {
		f = append(f, "Exit")
	}
	if n.kind == kindAuthority {
		f = append(f, "HSDir")
	}
	return f
}

// missingFromConsensus lists, for a human, which expected nodes or flags a
// consensus lacks; empty means the network is complete.
func missingFromConsensus(routers map[string][]string, nodes []nodeSpec) []string {
	var missing []string
	for _, n := range nodes {
		flags, ok := routers[n.name]
		if !ok {
			missing = append(missing, n.name)
			continue
		}
		var lack []string
		for _, w := range wantFlags(n) {
			if !slices.Contains(flags, w) {
				lack = append(lack, w)
			}
		}
		if len(lack) > 0 {
			missing = append(missing, n.name+" without "+strings.Join(lack, ","))
		}
	}
	sort.Strings(missing)
	return missing
}
