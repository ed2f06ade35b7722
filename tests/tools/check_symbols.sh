#!/bin/sh
# check_symbols.sh: fails if the proto library defines a global symbol that
# libre also exports, which would make one silently replace the other.
set -eu
lib=$1
re=$(pkg-config --variable=libdir libre)/libre.so
ours=$(nm --defined-only -g "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
theirs=$(nm -D --defined-only "$re" | awk 'NF == 3 { print $3 }' | sort -u)
clash=$(printf '%s\n%s\n' "$ours" "$theirs" | sort | uniq -d)
n=$(printf '%s\n' "$ours" | grep -c . || true)
if [ -n "$clash" ]; then
	echo "symbols defined by both proto/ and libre:" >&2
	echo "$clash" >&2
	exit 1
fi
echo "no clash between $n proto/ symbols and libre"
