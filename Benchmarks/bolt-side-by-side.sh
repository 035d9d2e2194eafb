#!/usr/bin/env bash
# Airlock and Slack Bolt for Python side by side: the same signed app_mention deliveries, the same load generator
# (airlock bench slack-ingest: 32 keep-alive connections, one request in flight each, pre-signed requests),
# alternating rounds. Prints each round and the ratio of the medians. Loopback only.
#   Benchmarks/bolt-side-by-side.sh [ROUNDS] [REQUESTS]
# Needs a release build (swift build -c release --product airlock) and python3 with venv; installs slack_bolt and
# aiohttp into $BOLT_VENV (default /tmp/airlock-bolt-venv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; requests=${2:-10000}; connections=${CONNECTIONS:-32}
venv=${BOLT_VENV:-/tmp/airlock-bolt-venv}
airlock=.build/release/airlock
[ -x "$airlock" ] || { echo "build first: swift build -c release --product airlock" >&2; exit 2; }
if ! "$venv/bin/python" -c 'import slack_bolt, aiohttp' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q slack_bolt aiohttp
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BOLT_SIGNING_SECRET="bench-$(date +%s%N)" BOLT_PORT=$port
"$venv/bin/python" Benchmarks/bolt/app.py >/tmp/airlock-bolt.log 2>&1 &
bolt=$!
trap 'kill $bolt 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
echo "Slack Bolt $("$venv/bin/python" -c 'import slack_bolt.version as v; print(v.__version__)') (AsyncApp, aiohttp) on 127.0.0.1:$port; $rounds rounds of $requests requests, $connections connections; $(nproc) cores"
results=$(mktemp)
for round in $(seq 1 "$rounds"); do
  # Each run starts with the previous one's dirty pages on disk, so neither pays for the other's writeback.
  sync; sleep 2
  a=$("$airlock" bench slack-ingest --requests "$requests" --connections "$connections" --mentions 0)
  sync; sleep 2
  b=$("$airlock" bench slack-ingest --requests "$requests" --connections "$connections" --target "http://127.0.0.1:$port/slack/events")
  for who in airlock bolt; do
    out=$([ $who = airlock ] && echo "$a" || echo "$b")
    rps=$(echo "$out" | awk '/throughput/ {print $2}')
    lat=$(echo "$out" | awk '/latency/ {print $3, $6, $9}')
    bad=$(echo "$out" | sed -n 's/.*s, \([0-9]*\) non-200.*/\1/p')
    echo "$who $rps $lat $bad" >>"$results"
    printf 'round %d  %-8s %6s req/s   p50 %s ms  p99 %s ms  p999 %s ms   non-200 %s\n' "$round" "$who" "$rps" $lat "$bad"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {w: statistics.median(float(r[1]) for r in rows if r[0] == w) for w in ("airlock", "bolt")}
p99 = {w: statistics.median(float(r[3]) for r in rows if r[0] == w) for w in ("airlock", "bolt")}
print(f"median: Airlock {med['airlock']:.0f} req/s (p99 {p99['airlock']:.1f} ms), Bolt {med['bolt']:.0f} req/s (p99 {p99['bolt']:.1f} ms); Airlock/Bolt = {med['airlock']/med['bolt']:.2f}x")
PY
