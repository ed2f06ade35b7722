#!/bin/bash
# test_sipcheck.sh: runs sipcheck on every corpus message and checks its JSON
# against EXPECT.tsv, then checks the error report on malformed input.
set -u
sipcheck=$1 data=$2
pass=0 fail=0

check() { # name, got, want
	if [ "$2" == "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $1: got '$2', want '$3'"
	fi
}

while IFS=$'\t' read -r file kind mos ruri callid cseq cmethod ftag ttag branch clen; do
	case $file in '#'*|'') continue ;; esac
	json=$("$sipcheck" "$data/corpus/$file")
	check "$file exit" $? 0
	if [ "$kind" = request ]; then
		check "$file method" "$(jq -r .method <<<"$json")" "$mos"
		check "$file ruri" "$(jq -r .request_uri.raw <<<"$json")" "$ruri"
	else
		check "$file status" "$(jq -r .status <<<"$json")" "$mos"
	fi
	check "$file call-id" "$(jq -r .call_id <<<"$json")" "$callid"
	check "$file cseq" "$(jq -r '"\(.cseq.number) \(.cseq.method)"' <<<"$json")" "$cseq $cmethod"
	check "$file from tag" "$(jq -r .from.tag <<<"$json")" "$ftag"
	check "$file to tag" "$(jq -r '.to.tag // "-"' <<<"$json")" "$ttag"
	check "$file branch" "$(jq -r '.via[0].branch' <<<"$json")" "$branch"
	check "$file content-length" "$(jq -r '.content_length // 0' <<<"$json")" "$clen"
done <"$data/corpus/EXPECT.tsv"

# Malformed input: a clear reason with its byte offset, and exit status 1.
bad=$'INVITE sip:a@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:b@example.net>;tag=1\r\nTo: <sip:a@example.net>\r\nCall-ID: x\r\nCSeq: abc INVITE\r\nContent-Length: 0\r\n\r\n'
out=$(printf '%s' "$bad" | "$sipcheck" -)
check "bad cseq exit" $? 1
check "bad cseq report" "$out" "error: bad CSeq at byte 154"
out=$(printf 'garbage' | "$sipcheck" -)
check "garbage exit" $? 1
check "garbage report" "$out" "error: no start line at byte 7"
"$sipcheck" /nonexistent >/dev/null 2>&1
check "missing file exit" $? 2

echo "sipcheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
