// Package browser tests the web dashboard in a real browser: headless
// Chromium (Debian's chromium package) driven by chromedp, against real
// onionswap processes on the private Tor network and a btcd regtest
// chain (itest/cluster).
//
// It is a module of its own so that chromedp and its dependencies never
// enter onionswap's own go.mod: the binary users run does not change by
// a line for the sake of its tests. The Makefile's test target runs it
// after the main module's packages.
package browser
