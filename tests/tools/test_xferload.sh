#!/bin/bash
# test_xferload.sh XFERLOAD XFERD: xferload's smoke test: 50 transfers, mix
# success=80,busy=20, against a fresh xferd on free ports; checks the JSON summary.
set -u
xferload=$1 xferd=$2
pass=0 fail=0
tmp=$(mktemp -d)
xpid=

check() { # name, got, want
	if [ "$2" == "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $1: got '$2', want '$3'"
	fi
}

cleanup() {
	if [ -n "$xpid" ]; then
		kill "$xpid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$xpid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$xpid" 2>/dev/null
		wait "$xpid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Three ports free for UDP (and the first for TCP too: xferd listens on both).
read -r port ep gw < <(python3 - <<'EOF'
import socket
held, ports = [], []
while len(ports) < 3:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p))  # xferd's listen port is TCP too
    except OSError:
        u.close(); t.close(); continue
    held += [u, t]; ports.append(p)
print(*ports)
EOF
)

cat >"$tmp/xferd.ini" <<EOF
[engine]
listen = 127.0.0.1:$port
workers = 1
trusted = 127.0.0.0/8
log_level = warn

[pstn]
gateway = sip:127.0.0.1:$gw
geo_allow = 1 44

[trunk acme]
domain = acme.zt.example.net
uri = sip:agent@127.0.0.1:$ep
numbers = +14155550100
EOF

"$xferload" --help >"$tmp/help" 2>&1
check "--help exit" $? 0
check "--help documents --mix" "$(grep -c -- '--mix SPEC' "$tmp/help")" 1
"$xferload" --rate 0 >/dev/null 2>"$tmp/err"
check "bad --rate exit" $? 2
check "bad --rate message" "$(head -1 "$tmp/err")" \
	"xferload: --rate '0': expected a number of calls per second, > 0 and <= 1000000"
"$xferload" --mix success=1,bogus=2 >/dev/null 2>&1
check "bad --mix exit" $? 2
"$xferload" --calls 5 --duration 1 >/dev/null 2>&1
check "--calls with --duration exit" $? 2

"$xferd" -c "$tmp/xferd.ini" 2>"$tmp/xferd.log" &
xpid=$!
for _ in $(seq 50); do # up when its UDP port is taken
	python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $port))" 2>/dev/null || break
	sleep 0.1
done

timeout 60 "$xferload" --target "127.0.0.1:$port" --endpoint "127.0.0.1:$ep" \
	--gateway "127.0.0.1:$gw" --number +14155550100 --refer-to-domain acme.zt.example.net \
	--refer-number +14155551234 --calls 50 --rate 100 --mix success=80,busy=20 \
	--hold 50 --refer-after 20 --call-timeout 20 --pid "$xpid" --json "$tmp/out.json" --quiet
check "xferload exit" $? 0
j() { jq -r "$1" "$tmp/out.json" 2>/dev/null; }
check "calls finished" "$(j .calls.finished)" 50
check "calls ok" "$(j .calls.ok)" 50
check "calls failed" "$(j .calls.failed)" 0
check "success ok" "$(j .scenarios.success.ok)" 40
check "busy ok" "$(j .scenarios.busy.ok)" 10
check "failures listed" "$(j '.failures | length')" 0
check "REFER 202" "$(j '.refer_responses["202"]')" 50
check "final NOTIFY 200" "$(j '.notify_final["200"]')" 40
check "final NOTIFY 486" "$(j '.notify_final["486"]')" 10
check "transfers" "$(j .calls.transfers)" 40
check "INVITE->200 samples" "$(j .latency_us.invite_200.count)" 50
check "REFER->NOTIFY 200 samples" "$(j .latency_us.refer_notify_200.count)" 40
check "percentiles ordered" "$(j '.latency_us.refer_202 | (.p50 <= .p90 and .p90 <= .p99 and .p99 <= .p99_9 and .p99_9 <= .max)')" true
check "xferd still running" "$(kill -0 "$xpid" 2>/dev/null && echo yes)" yes

if [ "$fail" -ne 0 ]; then
	echo "--- xferload summary"; cat "$tmp/out.json" 2>/dev/null
	echo "--- xferd log"; tail -20 "$tmp/xferd.log"
fi
echo "xferload: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
