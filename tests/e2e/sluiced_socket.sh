#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The sluiced socket: protocol framing, errors, limits, permissions and
# fairness, and the controller's life cycle (stale socket, SIGTERM, flags).
#
#   ┌──────── node1 netns ────────┐
#   │ sluiced ── sluiced.sock ◀───┼── socat / python clients (root and uid 65534)
#   └─────────────────────────────┘
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
sock=$E2E_ROOT/node1/sluiced.sock

expect_eq "socket mode is 0600" "$(stat -c %a "$sock")" 600
expect_eq "config request" "$(request node1 '{"request":"config"}' | jq -c '[.ok,.nodeName,.podCIDR]')" \
	'[true,"node1","10.244.1.0/24"]'
expect_eq "status is ready and lists the pinned maps" \
	"$(request node1 '{"request":"status"}' | jq -c '[.ok,.status.ready,(.status.maps.sluice_ep.max > 0)]')" \
	'[true,true,true]'

# Several values in one write, one of them pretty-printed over many lines,
# wrong types and an unknown request: one reply each, in order.
out=$(printf '{"request":"config"} [1,2]\n42 {\n  "request":\n    "nope"\n}\n"s" {"request":"config"}' | feed node1)
expect_eq "one reply per value, in order" "$(jq -c '.ok' <<<"$out" | tr '\n' ' ')" \
	"true false false false false true "
expect_match "array refused by type" "$(sed -n 2p <<<"$out")" 'expected a JSON object, got an array'
expect_match "unknown request named" "$(sed -n 4p <<<"$out")" "unknown request 'nope'"

# A value split across many writes.
out=$( (printf '{"requ'; sleep 0.3; printf 'est":"con'; sleep 0.3; printf 'fig"}\n') | feed node1)
expect_eq "value split across writes" "$(jq -c .ok <<<"$out")" true

# Invalid JSON: an error line, then that connection is closed (the value
# after it is not answered).
out=$(printf '{"a": } {"request":"config"}\n' | feed node1)
expect_eq "invalid JSON answered once, then closed" "$(wc -l <<<"$out")" 1
expect_match "invalid JSON error says where" "$out" 'invalid JSON at line 1'
out=$(printf '{"a":"\xc3\x28"}\n{"request":"config"}' | feed node1)
expect_match "invalid UTF-8 refused" "$out" '"ok":false'
expect_eq "invalid UTF-8 closes the connection" "$(wc -l <<<"$out")" 1
out=$(printf '{"request":"config"' | feed node1)
expect_match "value cut off at EOF" "$out" 'cut off'

# Limits: a 100 MiB value refused without buffering it, deep nesting refused.
out=$(python3 -c 'import sys; sys.stdout.write("{\"a\":\"" + "x" * (100 << 20) + "\"}")' | feed node1)
expect_match "100 MiB value refused" "$out" 'too large'
out=$(python3 -c 'import sys; sys.stdout.write("[" * 600 + "]" * 600)' | feed node1)
expect_match "600 levels of nesting refused" "$out" 'nested too deeply'
rss=$(awk '/VmRSS/ {print $2}' "/proc/${NODE_PID[node1]}/status")
expect_ge "the 100 MiB value was not buffered (RSS ${rss} kB < 96 MiB)" $((98304 - rss)) 0

# Peers other than root are refused (SO_PEERCRED), even with access to the file.
chmod 0711 "$E2E_ROOT/node1"; chmod 0666 "$sock"
out=$(echo '{"request":"config"}' | setpriv --reuid=65534 --regid=65534 --clear-groups \
	timeout 10 socat -t 5 - "UNIX-CONNECT:$sock" 2>&1)
expect_match "non-root peer refused" "$out" 'only root'
chmod 0600 "$sock"

# A client that writes requests and never reads its replies does not stall
# another client.
python3 - "$sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
msg = b'{"request":"status"}\n' * 1000
end = time.time() + 4
while time.time() < end:
    try: s.send(msg)
    except BlockingIOError: time.sleep(0.05)
    except OSError: break  # sluiced stopped
PY
E2E_PIDS+=($!)
sleep 1
t0=$(date +%s%N)
out=$(request node1 '{"request":"config"}')
ms=$((($(date +%s%N) - t0) / 1000000))
expect_match "served while another client does not read" "$out" '"ok":true'
expect_ge "answered within 1 s (took ${ms} ms)" $((1000 - ms)) 0

# A client that sends and closes without reading: everything is applied.
python3 - "$sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"".join(json.dumps({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "fire-%d" % i}}).encode() + b"\n"
                   for i in range(2000)))
s.close()
PY
fired() { [ "$(request node1 '{"request":"status"}' | jq .status.objects.Namespace)" -ge 2000 ]; }
expect_ok "values from a client that closed without reading are all applied" retry_until 10 fired

# Life cycle: SIGTERM removes the socket, keeps the pins; a stale socket
# file left by SIGKILL is replaced.
expect_ok "SIGTERM stops sluiced" sluiced_stop node1 TERM
expect_fail "socket removed on SIGTERM" test -e "$sock"
expect_ok "programs stay pinned" test -e "$(node_bpffs node1)/progs/from_pod"
expect_ok "sluiced starts again" sluiced_start node1
kill -KILL "${NODE_PID[node1]}"; wait "${NODE_PID[node1]}" 2>/dev/null
expect_ok "stale socket file is left by SIGKILL" test -S "$sock"
d=$E2E_ROOT/node1
e2e_argv "$(node_netns node1)" "$(node_cgroup node1)"
"${E2E_ARGV[@]}" "$SLUICED_BIN" --bpffs "$d/bpf" --socket "$sock" --state-dir "$d/state" \
	--node-name node1 --cgroup "$(node_cgroup node1)" >>"$d/sluiced.log" 2>&1 &
NODE_PID[node1]=$!
E2E_PIDS+=($!)
expect_ok "restart replaces the stale socket" retry_until 10 sh -c \
	"echo '{\"request\":\"config\"}' | socat -t 2 - UNIX-CONNECT:$sock | grep -q '\"ok\":true'"
expect_eq "no --pod-cidr: podCIDR is null" "$(request node1 '{"request":"config"}' | jq -c .podCIDR)" null

# Bad flags: exit 2 with a message.
for args in "--bogus" "--pod-cidr 10.1.1.1/24" "--maglev-size 1000" "--ct-max 0" "--ct-max" "extra"; do
	# shellcheck disable=SC2086
	out=$("$SLUICED_BIN" $args 2>&1); rc=$?
	expect_eq "sluiced $args exits 2" "$rc" 2
	expect_match "sluiced $args explains" "$out" "sluiced: .+"
done
expect_match "--help documents the flags" "$("$SLUICED_BIN" --help)" '--bpffs DIR.*'

e2e_finish
