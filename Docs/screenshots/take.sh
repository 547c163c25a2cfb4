#!/usr/bin/env bash
# Remakes the screenshots of httpserve's listing and 404 page in this folder (README.md, httpserve section):
# a folder with long names, numbered names, nested folders and sizes from bytes to GiB (sparse files), taken
# by headless Chromium at 390 and 1200 px, light and dark (--force-dark-mode sets prefers-color-scheme).
# Needs a debug build (swift build) and chromium (apt-get install chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
serve="$repo/.build/debug/httpserve"
root=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$root"' EXIT

gallery="$root/Projects/gallery"
mkdir -p "$gallery/src" "$gallery/Archive 2025" "$gallery/a folder with a rather long name that goes on and on"
make() { truncate -s "$2" "$gallery/$1"; touch -d "$3" "$gallery/$1"; }
make "Quarterly report for the regional operations team, final revision (approved by finance) 2026.pdf" 48213 "2026-11-28 09:41:00Z"
make "an-extremely-long-file-name-without-any-spaces-that-must-wrap-somewhere-inside-its-column.tar.gz" 442857142 "2026-10-02 17:03:00Z"
make file-1.txt 999 "2026-12-01 08:15:00Z"
make file-2.txt 12650 "2026-12-01 08:16:00Z"
make file-10.txt 2048 "2026-12-01 08:20:00Z"
make photo.jpg 4718592 "2026-07-14 19:22:00Z"
make disk-image.iso 1288490189 "2025-03-30 11:00:00Z"
make notes.md 310 "2026-12-01 13:05:00Z"
make "clip (final).webm" 73400320 "2026-09-09 21:47:00Z"
touch -d "2026-11-20 10:00:00Z" "$gallery"/*/

out=$(mktemp)
"$serve" "$root" -p 0 >"$out" &
pids+=($!)
"$serve" "$repo/public" -p 0 >"$out.public" &
pids+=($!)
for _ in $(seq 100); do
    grep -q http "$out" && grep -q http "$out.public" && break
    sleep 0.1
done
base=$(grep -o 'http://[^ ]*' "$out")
site=$(grep -o 'http://[^ ]*' "$out.public")

shot() {  # FILE WIDTH HEIGHT URL [FLAGS]
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars ${5:-} --window-size="$2,$3" --screenshot="$here/$1" "$4" 2>/dev/null
}
shot listing-390-light.png 390 844 "${base}Projects/gallery/"
shot listing-390-dark.png 390 844 "${base}Projects/gallery/" --force-dark-mode
shot listing-1200-light.png 1200 760 "${base}Projects/gallery/"
shot listing-1200-dark.png 1200 760 "${base}Projects/gallery/" --force-dark-mode
shot listing-390-filter.png 390 844 "${base}Projects/gallery/?q=file&sort=size&order=desc"
shot not-found-1200.png 1200 700 "${site}no/such/page"
shot not-found-390.png 390 844 "${site}no/such/page"
ls -l "$here"/*.png
