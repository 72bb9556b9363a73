#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's demo: a one-node "cluster" made of network namespaces on this
# machine. Installs what is missing, builds, starts sluiced in a node netns,
# adds three pods through the real CNI binary, shows traffic between them and
# what cnictl sees, then a Service and a NetworkPolicy at work (when this
# build has them). Everything is removed when it ends (also on ^C).
# Never touches the root network namespace.
#
#   ┌──────────────── node netns "node1": sluiced (bpffs, socket under /run) ────────────┐
#   │   sl…web            sl…client            sl…db         ClusterIP 10.96.0.10:80 → web │
#   └─────┼──────────────────┼────────────────────┼──────────────────────────────────────┘
#       eth0               eth0                 eth0
#    demo/web           demo/client          data/db       (pod netns, addresses from 10.244.1.0/24)
#
# Environment: BUILD (default build), NO_BUILD=1 (use what is built),
# DEMO_PAUSE=1 (wait for Enter between sections).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD

if [ "$(id -u)" -ne 0 ]; then
	echo "hack/demo.sh: needs root (network namespaces, BPF); try: sudo $0" >&2
	exit 1
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
	bash hack/deps.sh || { echo "demo: installing dependencies failed" >&2; exit 1; }
	echo "demo: building (make -j2 BUILD=$BUILD) ..."
	make -j2 BUILD="$BUILD" all >/dev/null || { echo "demo: build failed: run make BUILD=$BUILD" >&2; exit 1; }
fi

E2E_NAME=demo
E2E_PFX=demo$$
# shellcheck source=../tests/e2e/lib.sh
source tests/e2e/lib.sh

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# show CMD...: prints the command as a user would type it, then runs it.
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
pause() { [ "${DEMO_PAUSE:-0}" = 1 ] && read -r -p "(Enter) " _; return 0; }
# ctl ARGS...: cnictl against the demo node, shown in the short form.
ctl() {
	printf '\033[2m$ cnictl %s\033[0m\n' "$*"
	cnictl_t node1 "$@"
}
has_cmd() { "$CNICTL_BIN" help 2>&1 | grep -Eq "^ *(cnictl )?$1( |$)"; }

bold "1. a node: sluiced in its own network namespace"
node_up node1 10.244.1.0/24 || { echo "demo: sluiced did not start"; exit 1; }
echo "node netns $(node_netns node1), pod CIDR $(node_cidr node1), bpffs $(node_bpffs node1)"
echo "sluiced --bpffs $(node_bpffs node1) --socket $(node_socket node1) --state-dir $(node_state node1) --node-name node1 --pod-cidr 10.244.1.0/24"
pause

bold "2. three pods through the real CNI binary (CNI_COMMAND=ADD sluice < conf)"
cat "$(node_conf node1)"
for p in demo/web demo/client data/db; do
	if pod_add node1 "${p%/*}" "${p#*/}"; then
		echo "ADD $p -> $(pod_ip "${p%/*}" "${p#*/}")"
	else
		echo "demo: ADD $p failed: $CNI_OUT $CNI_ERR"; exit 1
	fi
done
web=$(pod_ip demo web) client=$(pod_ip demo client) db=$(pod_ip data db)
echo "ADD result of demo/web:"; jq -c . "$(pod_result demo web)"
pause

bold "3. traffic between pods (forwarded by BPF, bpf_redirect_peer)"
serve pod demo web tcp 8080 hello-from-web
serve pod data db tcp 5432 hello-from-db
show pod_exec demo client ping -n -c 3 -i 0.2 "$web"
printf '\033[2m$ (client) socat - TCP:%s:8080\033[0m\n' "$web"
probe pod demo client tcp "$web" 8080
printf '\033[2m$ (client) socat - TCP:%s:5432\033[0m\n' "$db"
probe pod demo client tcp "$db" 5432
echo "node -> pod:"; show node_exec node1 ping -n -c 1 "$db"
pause

bold "4. what cnictl sees"
ctl endpoint list
ctl endpoint get demo/web   # the record, and what its host veth runs now
ctl bpf map dump sluice_ep
ctl bpf map dump sluice_metrics
ctl bpf map dump sluice_ep_stats
ctl bpf prog list
ctl status
pause

# Labels for identities, Services and policies come from the Kubernetes feed;
# here we play the API server and stream the objects into the socket.
feed_objects() {
	jq -n --arg web "$web" --arg client "$client" --arg db "$db" '
	  def ns($n; $l): {apiVersion:"v1", kind:"Namespace", metadata:{name:$n, labels:({"kubernetes.io/metadata.name":$n} + $l)}};
	  def pod($ns; $n; $ip; $l): {apiVersion:"v1", kind:"Pod",
	    metadata:{namespace:$ns, name:$n, labels:$l, resourceVersion:"1"},
	    spec:{nodeName:"node1", containers:[{name:"c", ports:[{name:"http", containerPort:8080}]}]},
	    status:{phase:"Running", podIP:$ip, podIPs:[{ip:$ip}]}};
	  {apiVersion:"v1", kind:"List", items:[
	    ns("demo"; {team:"frontend"}), ns("data"; {team:"data"}),
	    pod("demo"; "web"; $web; {app:"web"}),
	    pod("demo"; "client"; $client; {app:"client"}),
	    pod("data"; "db"; $db; {app:"db"})]}' | feed node1
}
bold "5. the Kubernetes model: namespaces and pods from the feed"
feed_objects
has_cmd identity && ctl identity list

bold "6. a Service (ClusterIP 10.96.0.10:80 -> web:8080)"
if has_cmd service; then
	jq -n --arg web "$web" '
	  {apiVersion:"v1", kind:"Service", metadata:{namespace:"demo", name:"web", resourceVersion:"1"},
	   spec:{type:"ClusterIP", clusterIP:"10.96.0.10", clusterIPs:["10.96.0.10"],
	         selector:{app:"web"}, ports:[{name:"http", port:80, protocol:"TCP", targetPort:8080}]}},
	  {apiVersion:"discovery.k8s.io/v1", kind:"EndpointSlice",
	   metadata:{namespace:"demo", name:"web-1", labels:{"kubernetes.io/service-name":"web"}, resourceVersion:"1"},
	   addressType:"IPv4", ports:[{name:"http", port:8080, protocol:"TCP"}],
	   endpoints:[{addresses:[$web], conditions:{ready:true}, nodeName:"node1",
	               targetRef:{kind:"Pod", namespace:"demo", name:"web"}}]}' | feed node1
	ctl service list
	printf '\033[2m$ (client) socat - TCP:10.96.0.10:80\033[0m\n'
	probe pod demo client tcp 10.96.0.10 80 || echo "(no answer through the Service)"
	printf '\033[2m$ (node) socat - TCP:10.96.0.10:80\033[0m\n'
	probe node node1 tcp 10.96.0.10 80 || echo "(no answer from the node netns)"
else
	echo "Services are not in this build yet (cnictl has no 'service' command): section skipped."
fi
pause

bold "7. a NetworkPolicy: only app=web may reach data/db on 5432"
if has_cmd policy; then
	jq -n '{apiVersion:"networking.k8s.io/v1", kind:"NetworkPolicy",
	  metadata:{namespace:"data", name:"db-from-web", resourceVersion:"1"},
	  spec:{podSelector:{matchLabels:{app:"db"}}, policyTypes:["Ingress"],
	        ingress:[{from:[{namespaceSelector:{matchLabels:{team:"frontend"}},
	                         podSelector:{matchLabels:{app:"web"}}}],
	                  ports:[{protocol:"TCP", port:5432}]}]}}' | feed node1
	sleep 1
	ctl policy list
	printf '\033[2m$ (client) socat - TCP:%s:5432    # denied\033[0m\n' "$db"
	probe pod demo client tcp "$db" 5432 || echo "(no answer: dropped by policy)"
	printf '\033[2m$ (web) socat - TCP:%s:5432       # allowed\033[0m\n' "$db"
	probe pod demo web tcp "$db" 5432 || echo "(no answer)"
	ctl policy trace --from demo/client --to data/db --port 5432/TCP
	ctl bpf map dump sluice_metrics
else
	echo "NetworkPolicy is not in this build yet (cnictl has no 'policy' command): section skipped."
fi
pause

bold "8. DEL the pods"
for p in demo/web demo/client data/db; do
	pod_del "${p%/*}" "${p#*/}" && echo "DEL $p ok"
done
ctl endpoint list
echo
echo "demo done; removing the namespaces, bpffs and sluiced."
E2E_FINISHED=1
exit 0
