#!/usr/bin/env bash
# Installs (or names) what onionswap's tests and demo need on a Debian machine,
# and prints what it found. Only Debian's packages and the Go module proxy are
# used: nothing is downloaded from anywhere else.
#
#   deps.sh            tor, gcc, btcd: the demo and the integration tests
#   deps.sh --browser  and Debian's Chromium with a font: the dashboard's
#                      browser tests (itest/browser)
set -euo pipefail

browser=no
[ "${1:-}" = "--browser" ] && browser=yes

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

have go || { echo "deps: go is missing: install Go >= $(awk '/^go /{print $2}' "$(dirname "$0")/../go.mod")" >&2; exit 1; }
have gcc || need_apt+=(gcc)          # cgo, for mattn/go-sqlite3
have tor || need_apt+=(tor)
have tor-gencert || need_apt+=(tor)  # private test network: authority keys
if [ "$browser" = yes ]; then
  have chromium || need_apt+=(chromium)
  # A font, so that the screenshots show text (Chromium depends on none).
  [ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  # Debian's tor package enables a system tor service; the tests never use it
  # (they run their own private network), so it is left as the package sets it.
  pkgs=$(printf '%s\n' "${need_apt[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing from Debian's packages: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "deps: missing: $pkgs" >&2
    echo "deps: run:  sudo apt-get update && sudo apt-get install -y $pkgs" >&2
    exit 1
  fi
fi

# btcd (the regtest chain of the tests and the demo) is pinned in go.mod as a
# tool; building it once here keeps the first test from paying for it.
cd "$(dirname "$0")/.."
btcd=$(go tool -n btcd)

echo "deps: go      $(go env GOVERSION)"
echo "deps: gcc     $(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)"
echo "deps: tor     $(tor --version 2>/dev/null | head -n1 | sed 's/\.$//')"
echo "deps: btcd    $btcd"
if [ "$browser" = yes ]; then
  echo "deps: browser $(chromium --version 2>/dev/null | head -n1)"
fi
