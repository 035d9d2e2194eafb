#!/usr/bin/env bash
# SQLite and PostgreSQL (two Airlock replicas on one durable cluster) side by side: the same signed app_mention
# deliveries and load generator (airlock bench slack-ingest), ROUNDS rounds, each on a fresh database; prints every
# round and the median ratio. The cluster is a throwaway one with durability ON (fsync, synchronous_commit, full
# page writes), on 127.0.0.1. Loopback only.
#   Benchmarks/postgres-side-by-side.sh [ROUNDS] [REQUESTS]
# Needs a release build (swift build -c release --product airlock) and Debian's postgresql (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; requests=${2:-4000}
airlock=${AIRLOCK_BIN:-.build/release/airlock}
[ -x "$airlock" ] || { echo "build first: swift build -c release --product airlock" >&2; exit 2; }
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/airlock-pg-bench.XXXXXX); chmod 700 "$dir"
[ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown postgres:postgres "$dir"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null
trap 'as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (fsync=on, synchronous_commit=on); $rounds rounds of $requests requests; $(nproc) cores"
ratios=$(mktemp)
for round in $(seq 1 "$rounds"); do
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "bench$round"
  sync; sleep 2
  out=$("$airlock" bench slack-ingest --requests "$requests" --mentions 0 --replicas 2 \
    --database "postgres://postgres@127.0.0.1:$port/bench$round")
  echo "── round $round"; echo "$out" | grep -E "target|throughput|latency|×"
  echo "$out" | sed -n 's/.*: \([0-9.]*\)× the throughput.*/\1/p' >> "$ratios"
done
echo "median PostgreSQL/SQLite throughput ratio: $(sort -n "$ratios" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
