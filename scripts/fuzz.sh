#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 30s).
# Usage: scripts/fuzz.sh [fuzztime] [package pattern]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
pattern=${2:-./...}
count=0
for pkg in $(go list "$pattern"); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    count=$((count + 1))
  done
done
echo "fuzz: $count targets ran for $fuzztime each"
