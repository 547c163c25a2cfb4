#!/usr/bin/env bash
# Static files: httpserve --threads 1 vs nginx (one worker, sendfile on, gzip_comp_level 6), each pinned to
# CPU 0, wrk on CPU 1, alternating runs. Files: 4 KiB and 1 MiB random bytes, a 500 KB HTML page (gzip).
#
#     bash Benchmarks/static-vs-nginx.sh [runs] [seconds]      (needs nginx and wrk: apt-get install nginx wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}; secs=${2:-5}
site=$(mktemp -d)
head -c 4096 /dev/urandom > "$site/f4k.bin"
head -c 1048576 /dev/urandom > "$site/f1m.bin"
python3 - "$site/page.html" <<'PY'
import random, sys
random.seed(7)
words = "swift server chat framing terminator producer backpressure event loop socket request response header body chunk range gzip".split()
rows, size = [], 0
while size < 500_000:
    row = "<tr><td>%d</td><td>%s</td><td>%s</td></tr>\n" % (len(rows), " ".join(random.choice(words) for _ in range(8)), random.choice(words))
    rows.append(row); size += len(row)
open(sys.argv[1], "w").write("<!doctype html><html><body><table>\n" + "".join(rows) + "</table></body></html>\n")
PY
cat > "$site/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $site/nginx.pid;
error_log $site/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { text/html html; application/octet-stream bin; }
    default_type application/octet-stream;
    gzip on;
    gzip_comp_level 6;
    client_body_temp_path $site/tmp;
    proxy_temp_path $site/tmp;
    fastcgi_temp_path $site/tmp;
    uwsgi_temp_path $site/tmp;
    scgi_temp_path $site/tmp;
    server { listen 127.0.0.1:18090; root $site; }
}
CONF
swift build -c release --product httpserve >/dev/null
taskset -c 0 ./.build/release/httpserve "$site" --port 18091 --threads 1 --quiet & H=$!
taskset -c 0 nginx -c "$site/nginx.conf" & N=$!
trap 'kill $H $N 2>/dev/null; rm -rf "$site"' EXIT
sleep 1
# Both must answer 200 with the right bytes, or the numbers mean nothing.
for s in 18091 18090; do
  for f in f4k.bin f1m.bin page.html; do
    curl -s --fail -o "$site/check" "http://127.0.0.1:$s/$f" && cmp -s "$site/check" "$site/$f" \
      || { echo "port $s does not serve $f correctly"; exit 1; }
  done
  curl -s --fail --compressed -o "$site/check" "http://127.0.0.1:$s/page.html" && cmp -s "$site/check" "$site/page.html" \
    || { echo "port $s does not gzip page.html correctly"; exit 1; }
  curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$s/page.html" | grep -qi 'content-encoding: gzip' \
    || { echo "port $s does not compress page.html"; exit 1; }
done
out=$(mktemp)
for _ in $(seq "$runs"); do
  for f in f4k.bin f1m.bin page.html; do
    for s in httpserve:18091 nginx:18090; do
      hdr=(); [ "$f" = page.html ] && hdr=(-H "Accept-Encoding: gzip")
      r=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "${hdr[@]}" "http://127.0.0.1:${s##*:}/$f" | awk '/Requests\/sec/ {print $2}')
      echo "$f ${s%%:*} $r" | tee -a "$out"
      sleep 2  # let the server finish work left by the last run's abandoned responses (gzip in flight)
    done
  done
done
python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f, name, rps = line.split(); runs.setdefault((f, name), []).append(float(rps))
for f, label in [("f4k.bin", "4 KiB file"), ("f1m.bin", "1 MiB file"), ("page.html", "500 KB HTML, gzip")]:
    h, n = statistics.median(runs[(f, "httpserve")]), statistics.median(runs[(f, "nginx")])
    print(f"{label:20s} httpserve {h:9.0f} req/s   nginx {n:9.0f} req/s   ratio {h/n:.2f}x")
PY
