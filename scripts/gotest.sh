#!/usr/bin/env bash
# Runs `go test "$@"` and, when it fails, repeats each failing test's own
# last messages at the very end of the output. The integration packages dump
# the logs of every process they ran after a failure (thousands of lines),
# and a CI system that keeps only the tail of the output would otherwise
# show those logs instead of why the test failed.
set -uo pipefail

log=$(mktemp "${TMPDIR:-/tmp}/onionswap-gotest.XXXXXX")
trap 'rm -f "$log"' EXIT

echo "${GO:-go} test $*"
"${GO:-go}" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && exit 0

# A failing test prints "--- FAIL: Name (time)" followed by its indented
# t.Log/t.Error lines; keep the header and the last 6 of them (the failure
# is the last), then each panic with the lines that name the running tests (a timeout),
# then the failed packages.
echo
echo "==== failures (go test exit $rc) ===="
awk '
	function flush() { if (hdr != "") { print hdr; s = (n > 6) ? n - 6 : 0; for (i = s; i < n; i++) print body[i] } hdr = ""; n = 0 }
	/^[ \t]*--- FAIL/ { flush(); hdr = $0; next }
	hdr != "" && /^[ \t]+[^ \t]/ { body[n++] = $0; next }
	{ flush() }
	p > 0 { print; p--; next }
	/^(panic:|fatal error:)/ { print; p = 4 }
	END { flush() }
' "$log" | cut -c1-400 | tail -n 80
grep -E '^(FAIL|ok )[[:space:]]' "$log" | grep '^FAIL'
exit "$rc"
