#!/bin/sh
# Soak: at least 1,000,000 mixed requests against the hello example (release) with zero errors and flat RSS.
# Mix per connection, pipelined 4 deep: GET /plaintext, a 4 KiB file, a 100 KB HTML page gzipped, a POST with a
# 1 KiB body echoed back, GET /json. Prints the RSS after warm-up and after every round, and wrk's errors.
#
#   sh Benchmarks/soak.sh [TOTAL_REQUESTS]
set -eu
cd "$(dirname "$0")/.."
TOTAL=${1:-1000000}
swift build -c release --product hello >/dev/null
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
head -c 4096 /dev/urandom > "$DIR/4k.bin"
python3 -c "import sys; sys.stdout.write(''.join('<p>paragraph %d of the soak page</p>\n' % i for i in range(3000)))" > "$DIR/page.html"
: > "$DIR/out"
./.build/release/hello --port 0 --threads 2 --files "$DIR" > "$DIR/out" 2>&1 &
SERVER=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening "$DIR/out" && break; sleep 0.2; done
PORT=$(grep -o '127\.0\.0\.1:[0-9]*' "$DIR/out" | head -n 1 | cut -d: -f2)
cat > "$DIR/mix.lua" <<'LUA'
-- Built in init: wrk knows the Host only once the script is loaded.
local batch
init = function(args)
    local body = string.rep("x", 1024)
    batch = wrk.format("GET", "/plaintext") ..
        wrk.format("GET", "/files/4k.bin") ..
        wrk.format("GET", "/files/page.html", { ["Accept-Encoding"] = "gzip" }) ..
        wrk.format("POST", "/echo", { ["Content-Type"] = "application/octet-stream" }, body) ..
        wrk.format("GET", "/json")
end
request = function() return batch end
LUA
# Every request of the mix answers 200 with the expected body before the soak starts.
B="http://127.0.0.1:$PORT"
[ "$(curl -s "$B/plaintext")" = "Hello, World!" ]
curl -s "$B/files/4k.bin" | cmp -s - "$DIR/4k.bin"
curl -s --compressed "$B/files/page.html" | cmp -s - "$DIR/page.html"
[ "$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$B/files/page.html")" -lt 20000 ]
[ "$(curl -s --data-binary 'echo me' "$B/echo")" = "echo me" ]
echo "mix checked: plaintext, 4 KiB file, gzip page, POST echo"
rss() { grep VmRSS /proc/$SERVER/status | awk '{print $2}'; }
wrk -t2 -c32 -d3s -s "$DIR/mix.lua" "http://127.0.0.1:$PORT" >/dev/null
echo "RSS after warm-up: $(rss) KiB"
done_requests=0
errors=0
round=0
while [ "$done_requests" -lt "$TOTAL" ]; do
    round=$((round + 1))
    out=$(wrk -t2 -c32 -d15s -s "$DIR/mix.lua" "http://127.0.0.1:$PORT")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    e=$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); s=$4+$6+$8+$10} /Non-2xx/ {s+=$5} END {print s+0}')
    done_requests=$((done_requests + n))
    errors=$((errors + e))
    echo "round $round: $n requests, $e errors, RSS $(rss) KiB (total $done_requests)"
done
kill -0 $SERVER && echo "server alive"
echo "soak: $done_requests requests, $errors errors"
[ "$errors" -eq 0 ]
