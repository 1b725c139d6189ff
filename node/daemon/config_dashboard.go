package daemon

import (
	"github.com/onionswap/onionswap/node/dashboard"
)

// DashboardOff turns the dashboard off (--dashboard off).
const DashboardOff = "off"

// DashboardConfig configures the web dashboard (node/dashboard).
type DashboardConfig struct {
	// Listen: a loopback host:port, DashboardOff, or "" for the
	// network's default (defaultDashboard).
	Listen string
	// Onion also publishes it as its own onion service restricted by
	// Tor client authorization.
	Onion bool
}

// defaultDashboard: a fixed port per network, so a bookmark or an SSH
// tunnel keeps working across restarts; on regtest any free port, since
// tests and the demo run many nodes on one machine (`status` tells it).
func defaultDashboard(network string) string {
	switch network {
	case "regtest":
		return "127.0.0.1:0"
	case "testnet":
		return "127.0.0.1:18720"
	case "signet":
		return "127.0.0.1:38720"
	default:
		return "127.0.0.1:8720"
	}
}

func (dc *DashboardConfig) validate(network string) error {
	if dc.Listen == "" {
		dc.Listen = defaultDashboard(network)
	}
	if dc.Listen == DashboardOff {
		if dc.Onion {
			return cfgErr("--dashboard-onion needs the dashboard (--dashboard is off)")
		}
		return nil
	}
	if err := dashboard.CheckListen(dc.Listen); err != nil {
		return cfgErr("--dashboard: %v", err)
	}
	return nil
}
