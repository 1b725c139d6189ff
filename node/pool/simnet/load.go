package simnet

import (
	"os"
	"strings"
)

// LoadAvg is the machine's 1-minute load average ("?" if unknown): the
// latencies measured are wall-clock times of 1,000 nodes sharing the
// machine's cores, so a loaded machine lengthens them.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
