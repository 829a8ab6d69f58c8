#!/usr/bin/env bash
# One load run of LOAD.md: DOCKS simulated docks against one cloud process through a
# Mosquitto of its own, the cloud's tracker kept in SQLite or not.
#
#   bash tools/load.sh DOCKS store|nostore [INTERVAL_MS [CLOUD OPTION...]]
#
# Options after INTERVAL_MS go to the cloud (`--commit-at-once 64`, say).
#
# Run from the repository root, after `cargo build --release --example ota-load`.
# Prints the docks' and the cloud's summaries, then the cloud's CPU seconds (user and
# system) and peak RSS as `/usr/bin/time` measured them, and any line of the broker's
# log saying it dropped messages.
set -euo pipefail
docks=${1:?DOCKS}
mode=${2:?store or nostore}
interval=${3:-500}
shift $(($# < 3 ? $# : 3))
port=$((18900 + RANDOM % 500))
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 1000\n' \
  "$port" >"$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
sleep 0.5

load=target/release/examples/ota-load
common=(--broker "127.0.0.1:$port" --docks "$docks" --interval-ms "$interval" --timeout-secs 900)
"$load" --role docks "${common[@]}" --connections 50 >"$dir/docks.out" 2>&1 &
docks_pid=$!
until grep -q '^ready' "$dir/docks.out"; do
  kill -0 "$docks_pid" 2>/dev/null || { cat "$dir/docks.out"; exit 1; }
  sleep 0.2
done

state=()
if [ "$mode" = store ]; then
  state=(--state "$dir/cloud.db")
fi
status=0
# CLOUD_WRAP runs the cloud under another program too (a profiler, say).
/usr/bin/time -f 'cloud_cpu user=%U system=%S peak_rss_kib=%M' ${CLOUD_WRAP:-} \
  "$load" --role cloud "${common[@]}" "${state[@]}" "$@" >"$dir/cloud.out" 2>"$dir/cloud.err" || status=$?
wait "$docks_pid" || true
grep '^summary' "$dir/docks.out" | sed 's/^/docks /'
grep '^summary' "$dir/cloud.out" | sed 's/^/cloud /'
grep '^cloud_cpu' "$dir/cloud.err"
# What the broker dropped (its queue for a client full), said once a client.
grep -i 'dropped' "$dir/mosquitto.log" | sed 's/^/broker /' || true
grep -v '^cloud_cpu' "$dir/cloud.err" | tail -5 || true
exit "$status"
