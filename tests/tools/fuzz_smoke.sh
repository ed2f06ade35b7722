#!/bin/sh
# fuzz_smoke.sh: runs one libFuzzer target for a bounded time, seeded from the
# test corpora; new inputs go to a scratch dir so the repo stays clean.
set -eu
target=$1 data=$2 seconds=${3:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$data"/corpus/*.sip "$data"/rfc4475/*.sip "$work/corpus/" 2>/dev/null || true
# A crashing input is kept in the build dir (and printed in base64 by libFuzzer).
"$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$PWD/$(basename "$target")-" "$work/corpus"
