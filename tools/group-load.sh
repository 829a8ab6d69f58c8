#!/usr/bin/env bash
# One group run of LOAD.md: a rollout of DOCKS simulated docks followed by INSTANCES
# `ota-fleet run` processes in one group, through a Mosquitto and a PostgreSQL of
# their own (PostgreSQL in a temporary folder, on the loopback).
#
#   bash tools/group-load.sh DOCKS INSTANCES [INTERVAL_MS]
#
# Run from the repository root, after
# `cargo build --release --example ota-load --example ota-fleet`. Needs Mosquitto and
# PostgreSQL's programs (Debian: /usr/lib/postgresql/*/bin); as root, PostgreSQL runs as
# the user postgres. Prints the docks' summary, each process's CPU seconds and peak RSS
# (`/usr/bin/time`), PostgreSQL's CPU seconds, and the wall time from the first start to
# the last exit.
set -euo pipefail
docks=${1:?DOCKS}
instances=${2:?INSTANCES}
interval=${3:-500}
port=$((18900 + RANDOM % 500))
pgport=$((19500 + RANDOM % 400))
dir=$(mktemp -d)
chmod 755 "$dir"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  as_postgres "$pgbin/pg_ctl" stop -m immediate -D "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 1000\n' \
  "$port" >"$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &

mkdir "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
as_postgres "$pgbin/initdb" -A trust -U postgres -E UTF8 -D "$dir/pg/data" >/dev/null
as_postgres "$pgbin/pg_ctl" start -w -D "$dir/pg/data" -l "$dir/pg/log" \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $dir/pg" >/dev/null
export OTA_POSTGRES_URL="postgres://postgres@127.0.0.1:$pgport/postgres"

# The fleet: one dock a line, all on the same firmware.
{
  echo gateway,sn,model
  for ((n = 0; n < docks; n++)); do printf 'LOAD%05d,LOAD%05d,dock2\n' "$n" "$n"; done
} >"$dir/fleet.csv"
cat >"$dir/firmware.json" <<'JSON'
{"dock2": {"version": "10.01.0003", "url": "https://firmware.example.com/dock2.zip",
  "md5": "6f1ed002ab5595859014ebf0951522d9", "size": 312441856, "file_name": "dock2.zip",
  "upgrade_type": 3}}
JSON

bin=target/release/examples
"$bin/ota-load" --role docks --broker "127.0.0.1:$port" --docks "$docks" \
  --interval-ms "$interval" --target-version 10.01.0003 --timeout-secs 1800 \
  --connections 50 >"$dir/docks.out" 2>&1 &
docks_pid=$!
until grep -q '^ready' "$dir/docks.out"; do
  kill -0 "$docks_pid" 2>/dev/null || { cat "$dir/docks.out"; exit 1; }
  sleep 0.2
done

pg_cpu() {
  # The server's CPU in clock ticks: the postmaster's own and that of the children it
  # reaped (the backends of connections closed), plus its children alive.
  local main total pid
  main=$(head -1 "$dir/pg/data/postmaster.pid")
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$main/stat")
  for pid in $(pgrep -P "$main"); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
psql() { as_postgres "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -Atq -c "$1"; }
wal_before=$(psql "SELECT pg_current_wal_lsn() - '0/0'")
commits_before=$(psql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")
before=$(pg_cpu)
started=$(date +%s.%N)
pids=()
for ((i = 0; i < instances; i++)); do
  /usr/bin/time -f "instance i$i cpu user=%U system=%S peak_rss_kib=%M" \
    "$bin/ota-fleet" run --broker "127.0.0.1:$port" --fleet "$dir/fleet.csv" \
    --firmware "$dir/firmware.json" --group load --instance "i$i" \
    --client-id group-load --canary 0 --max-in-flight "$docks" \
    --reply-timeout-ms 10000 >"$dir/i$i.out" 2>"$dir/i$i.err" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
ended=$(date +%s.%N)
after=$(pg_cpu)
wal_after=$(psql "SELECT pg_current_wal_lsn() - '0/0'")
commits_after=$(psql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'")
wait "$docks_pid" || true
grep '^summary' "$dir/docks.out" | sed 's/^/docks /'
for ((i = 0; i < instances; i++)); do
  grep -h 'rollout .*ok' "$dir/i$i.out" | tail -1 | sed "s/^/i$i /" || true
  grep '^instance' "$dir/i$i.err"
done
echo "postgres cpu_s=$(echo "scale=2; ($after - $before) / $(getconf CLK_TCK)" | bc)" \
  "wal_mb=$(echo "scale=1; ($wal_after - $wal_before) / 1048576" | bc)" \
  "commits=$((commits_after - commits_before))" \
  "db_mb=$(echo "scale=1; $(psql "SELECT pg_database_size('postgres')") / 1048576" | bc)"
echo "wall_s=$(echo "$ended - $started" | bc) exit=$status"
