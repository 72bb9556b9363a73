#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The feeder: streams the API server's view of the six kinds sluiced
# understands into its socket, one connection per kind, forever.
#
# UNTESTED AGAINST A REAL CLUSTER: this project's machines have none. What
# is tested is the feed it produces (Lists, watch events, the
# initial-events-end BOOKMARK), which tests/e2e and the controller's unit
# tests exercise.
#
# Per kind, in a loop:
#   1. LIST  GET <path>                       -> each item sent as an upsert
#   2. a BOOKMARK with k8s.io/initial-events-end="true": sluiced deletes the
#      objects of that kind this connection did not list (deleted while we
#      were away);
#   3. WATCH GET <path>?watch=1&resourceVersion=<list RV>&allowWatchBookmarks=true
#      -> the API server's events, unchanged.
#   When the watch ends (timeout, 410 Gone, API server restart) the loop
#   starts over with a new connection and a fresh LIST, so nothing is missed.
#
# Needs: kubectl (in-cluster config from the pod's service account, or
# KUBECONFIG), jq, socat. Env: SLUICE_SOCKET (default /run/sluice/sluiced.sock),
# FEEDER_WATCH_TIMEOUT (seconds per watch, default 1800), KUBECTL (default kubectl).
set -uo pipefail

SOCKET=${SLUICE_SOCKET:-/run/sluice/sluiced.sock}
TIMEOUT=${FEEDER_WATCH_TIMEOUT:-1800}
KUBECTL=${KUBECTL:-kubectl}

# kind apiVersion path
KINDS=(
	"Namespace v1 /api/v1/namespaces"
	"Node v1 /api/v1/nodes"
	"Pod v1 /api/v1/pods"
	"Service v1 /api/v1/services"
	"EndpointSlice discovery.k8s.io/v1 /apis/discovery.k8s.io/v1/endpointslices"
	"NetworkPolicy networking.k8s.io/v1 /apis/networking.k8s.io/v1/networkpolicies"
)

log() { printf 'feeder: %s\n' "$*" >&2; }

# stream KIND APIVERSION PATH: one LIST + BOOKMARK + WATCH on stdout.
stream() {
	local kind=$1 av=$2 path=$3 list rv
	list=$(mktemp) || return 1
	if ! "$KUBECTL" get --raw "$path" >"$list"; then
		log "$kind: list $path failed"
		rm -f "$list"
		return 1
	fi
	rv=$(jq -r '.metadata.resourceVersion // empty' "$list")
	# Items of a List response carry no kind/apiVersion: add them.
	jq -c --arg k "$kind" --arg av "$av" '.items[] | . + {kind: $k, apiVersion: $av}' "$list"
	rm -f "$list"
	jq -cn --arg k "$kind" --arg av "$av" --arg rv "$rv" '{type: "BOOKMARK", object: {kind: $k, apiVersion: $av,
		metadata: {resourceVersion: $rv, annotations: {"k8s.io/initial-events-end": "true"}}}}'
	"$KUBECTL" get --raw "$path?watch=1&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=$TIMEOUT"
}

# feed_kind KIND APIVERSION PATH: reconnecting loop for one kind.
feed_kind() {
	local backoff=1
	while :; do
		until [ -S "$SOCKET" ]; do sleep 1; done
		log "$1: list+watch into $SOCKET"
		local start=$SECONDS
		# Replies: one line per value; print only the errors.
		stream "$@" | socat -t 30 - "UNIX-CONNECT:$SOCKET" | grep -v '^{"ok":true}$' | sed "s/^/feeder: $1: /" >&2
		# A watch that ran for a while ended normally; restart at once.
		if [ $((SECONDS - start)) -gt 60 ]; then backoff=1; else
			sleep "$backoff"; [ $backoff -lt 30 ] && backoff=$((backoff * 2))
		fi
	done
}

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; exit 0' INT TERM
for k in "${KINDS[@]}"; do
	# shellcheck disable=SC2086
	feed_kind $k &
	pids+=($!)
done
wait
