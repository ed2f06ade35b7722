#!/bin/bash
# test_xferload.sh XFERLOAD XFERD: xferload's smoke test: 50 transfers, mix
# success=80,busy=20, against a fresh xferd on free ports; then established
# calls held through a load, --calls 0, --provisionals; then --no-subscription
# (RFC 4488) against another fresh xferd; checks the JSON summaries.
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

stop_xferd() { # the xferd started last, by its PID: SIGTERM, then SIGKILL after 5 s
	if [ -n "$xpid" ]; then
		kill "$xpid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$xpid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$xpid" 2>/dev/null
		wait "$xpid" 2>/dev/null
	fi
	xpid=
}

cleanup() {
	stop_xferd
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
for opt in established established-rate settle provisionals no-subscription; do
	check "--help documents --$opt" "$(grep -c -- "^  --$opt " "$tmp/help")" 1
done
check "--help documents rss when up" "$(grep -c -- 'when the last established' "$tmp/help")" 1
check "--help says how latencies are measured" "$(grep -c -- 'SO_TIMESTAMPNS' "$tmp/help")" 1
bad_value() { # option value message
	"$xferload" "--$1" "$2" >/dev/null 2>"$tmp/err"
	check "bad --$1 '$2' exit" $? 2
	check "bad --$1 '$2' message" "$(head -1 "$tmp/err")" "xferload: --$1 '$2': $3"
}
bad_value established x "expected an integer from 0 to 999999"
bad_value established 1000000 "expected an integer from 0 to 999999"
bad_value established 995000 \
	"expected at most 990000 with --concurrent 10000 (1000000 call slots in all)"
bad_value established-rate 0 "expected a number of calls per second, > 0 and <= 1000000"
bad_value established-rate 5x "expected a number of calls per second, > 0 and <= 1000000"
bad_value settle -1 "expected seconds from 0 to 86400"
bad_value settle 1s "expected seconds from 0 to 86400"
bad_value provisionals 0 "expected an integer from 1 to 100"
bad_value provisionals 101 "expected an integer from 1 to 100"
bad_value calls 0 "expected an integer >= 1 (0 only with --established)"
"$xferload" --no-subscription=yes >/dev/null 2>"$tmp/err"
check "bad --no-subscription=yes exit" $? 2
check "bad --no-subscription=yes message" "$(head -1 "$tmp/err")" \
	"xferload: --no-subscription 'yes': expected no value (a switch)"

start_xferd() { # log file
	"$xferd" -c "$tmp/xferd.ini" 2>"$1" &
	xpid=$!
	for _ in $(seq 50); do # up when its UDP port is taken
		python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $port))" 2>/dev/null || break
		sleep 0.1
	done
}
start_xferd "$tmp/xferd.log"

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
# Latencies end at the kernel's receive time (SO_TIMESTAMPNS): every sample
# has one; the loop's time is only the fallback for a datagram without.
check "latency clock: kernel_rx > 0" "$(j '.latency_clock.kernel_rx > 0')" true
check "latency clock: loop" "$(j .latency_clock.loop)" 0
check "latency clock: one per sample" "$(j '.latency_clock.kernel_rx + .latency_clock.loop ==
	([.latency_us[].count] | add)')" true
check "latency clock: datagrams untimed" "$(j .messages.untimed)" 0

# 20 established calls held up through 10 transfers: counted apart, hung up
# at the end; the platform's memory and CPU by phase. --concurrent 4 limits
# the load's calls only: 20 idle calls do not stop them starting.
load() { # json, options...
	local out=$1
	shift
	timeout 60 "$xferload" --target "127.0.0.1:$port" --endpoint "127.0.0.1:$ep" \
		--gateway "127.0.0.1:$gw" --number +14155550100 \
		--refer-to-domain acme.zt.example.net --refer-number +14155551234 \
		--hold 50 --refer-after 20 --call-timeout 20 --json "$tmp/$out" --quiet "$@"
}
load est.json --established 20 --established-rate 500 --calls 10 --rate 100 --concurrent 4 \
	--pid "$xpid"
check "established: exit" $? 0
j() { jq -r "$1" "$tmp/est.json" 2>/dev/null; }
check "established: asked" "$(j .established.asked)" 20
check "established: up" "$(j .established.up)" 20
check "established: failed" "$(j .established.failed)" 0
check "established: dropped" "$(j .established.dropped)" 0
check "established: hung up" "$(j .established.hung_up)" 20
check "established: teardown failed" "$(j .established.teardown_failed)" 0
check "established: no reasons" "$(j '.established.reasons | length')" 0
check "established: setup_s > 0" "$(j '.established.setup_s > 0')" true
check "established: load calls ok" "$(j .calls.ok)" 10
check "established: load calls only counted" "$(j .calls.started)" 10
check "established: transfers" "$(j .calls.transfers)" 10
check "established: not in the latencies" "$(j .latency_us.invite_200.count)" 10
check "established: rss fields > 0" "$(j '.platform |
	[.rss_kb_start, .rss_kb_up, .rss_kb_loaded, .rss_kb_end] | all(. > 0)')" true
check "established: rss_kb_up > 0" "$(j '.platform.rss_kb_up > 0')" true
check "established: rss per call when up" \
	"$(j '.platform.rss_bytes_per_established_call_up | type')" number
check "established: subscription by default" "$(j .options.no_subscription)" false
check "established: cpu_us_establish > 0" "$(j '.platform.cpu_us_establish > 0')" true
check "established: cpu_us_load > 0" "$(j '.platform.cpu_us_load > 0')" true
check "established: load_s > 0" "$(j '.platform.load_s > 0')" true
check "established: platform pid" "$(j .platform.pid)" "$xpid"
check "established: old cpu fields kept" "$(j '.cpu | has("peer_us_per_call")')" true

# --calls 0: established calls only, after --settle.
load noload.json --established 5 --calls 0 --settle 0.3
check "--calls 0: exit" $? 0
j() { jq -r "$1" "$tmp/noload.json" 2>/dev/null; }
check "--calls 0: up" "$(j .established.up)" 5
check "--calls 0: hung up" "$(j .established.hung_up)" 5
check "--calls 0: no load call" "$(j .calls.started)" 0
check "--calls 0: settled" "$(j '.total_s >= 0.3')" true

# --provisionals 3: 180, 183, 183 over --ring: NOTIFY 100, 3 x 18x, 200.
load prov.json --provisionals 3 --calls 5 --rate 100 --ring 30
check "--provisionals: exit" $? 0
j() { jq -r "$1" "$tmp/prov.json" 2>/dev/null; }
check "--provisionals: ok" "$(j .calls.ok)" 5
check "--provisionals: notifies" "$(j .notifies)" $((5 * (3 + 2)))
check "--provisionals: NOTIFY 180" "$(j '.notify_sipfrags["180"]')" 5
check "--provisionals: NOTIFY 183" "$(j '.notify_sipfrags["183"]')" 10
check "--provisionals: NOTIFY 200" "$(j '.notify_sipfrags["200"]')" 5
check "--provisionals: notifies_per_s > 0" "$(j '.notifies_per_s > 0')" true

check "xferd still running" "$(kill -0 "$xpid" 2>/dev/null && echo yes)" yes

# --no-subscription against a fresh xferd: the REFER carries Refer-Sub: false,
# the 202 must too, and no NOTIFY comes; the target still sends its 18x.
stop_xferd
start_xferd "$tmp/xferd-nosub.log"
load nosub.json --no-subscription --calls 10 --rate 100 --mix success=60,busy=40 \
	--provisionals 3 --ring 30
check "--no-subscription: exit" $? 0
j() { jq -r "$1" "$tmp/nosub.json" 2>/dev/null; }
check "--no-subscription: option" "$(j .options.no_subscription)" true
check "--no-subscription: ok" "$(j .calls.ok)" 10
check "--no-subscription: success ok" "$(j .scenarios.success.ok)" 6
check "--no-subscription: busy ok" "$(j .scenarios.busy.ok)" 4
check "--no-subscription: failures" "$(j '.failures | length')" 0
check "--no-subscription: notifies" "$(j .notifies)" 0
check "--no-subscription: REFER 202" "$(j '.refer_responses["202"]')" 10
check "--no-subscription: transfers (target's 200 ACKed)" "$(j .calls.transfers)" 6
check "--no-subscription: REFER->202 samples" "$(j .latency_us.refer_202.count)" 10
check "--no-subscription: no REFER->NOTIFY samples" \
	"$(j '.latency_us.refer_notify_100.count + .latency_us.refer_notify_200.count')" 0
check "xferd (fresh) still running" "$(kill -0 "$xpid" 2>/dev/null && echo yes)" yes

if [ "$fail" -ne 0 ]; then
	for f in out est noload prov nosub; do
		echo "--- xferload summary $f"; cat "$tmp/$f.json" 2>/dev/null
	done
	echo "--- xferd log"; tail -20 "$tmp/xferd.log"
	echo "--- xferd log (--no-subscription)"; tail -20 "$tmp/xferd-nosub.log" 2>/dev/null
fi
echo "xferload: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
