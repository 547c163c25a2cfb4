#!/usr/bin/env bash
# GET /plaintext: hello (HTTPChat) vs a plain NIOHTTP1 server, each pinned to CPU 0 with one event loop,
# wrk on CPU 1, alternating runs; prints each run and the medians.
#
#     bash Benchmarks/plaintext-vs-nio.sh [runs] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}; secs=${2:-5}
swift build -c release --product hello >/dev/null
(cd Benchmarks && swift build -c release --product nio-server >/dev/null)
taskset -c 0 ./.build/release/hello --port 18080 --threads 1 >/dev/null 2>&1 & H=$!
taskset -c 0 ./Benchmarks/.build/release/nio-server 18081 . 1 >/dev/null 2>&1 & N=$!
trap 'kill $H $N 2>/dev/null' EXIT
sleep 1
: > /tmp/plaintext-runs.txt
for _ in $(seq "$runs"); do
  for s in hello:18080 nio:18081; do
    r=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:${s##*:}/plaintext" | awk '/Requests\/sec/ {print $2}')
    echo "${s%%:*} $r" | tee -a /tmp/plaintext-runs.txt
    sleep 1
  done
done
python3 - <<'PY'
import statistics
runs = {}
for line in open('/tmp/plaintext-runs.txt'):
    name, rps = line.split(); runs.setdefault(name, []).append(float(rps))
h, n = statistics.median(runs['hello']), statistics.median(runs['nio'])
print(f"median req/s: hello {h:.0f}  nio {n:.0f}  ratio {h/n:.2f}x")
PY
