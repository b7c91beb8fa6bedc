#!/usr/bin/env bash
# multi-sync.sh [STOWAGE] — issue 12: `stowage sync` to two registries in one run against
# the same sync to one, of the same layout, each into empty local docker-registry
# instances (plain HTTP on 127.0.0.1, filesystem storage in the work dir).
#
# The layout: three single-platform images (a 1 MiB shared base layer and one random
# ARCH_MIB MiB layer each) and an index of them, made with `stowage index create`.
# For every run: fresh registries, `sync; echo 3 > drop_caches` when root (the
# executables read back in), then
#   one:  stowage sync --json R1
#   two:  stowage sync --json R1 R2
#   pair: stowage sync --json R1 & stowage sync --json R2 (two processes at once, each
#         reading every blob: what one would do without several destinations)
# in rotating order. Prints one line per run: mode, wall s, stowage's user and sys
# CPU s, the registries' CPU s (from /proc/PID/stat), blobs sent per destination, blob
# bytes read from disk (stowage's count), requests the registries logged, and the
# layout's blob bytes; then the medians. Timing is for docs/performance.md only.
#
# Environment: RUNS (default 3), ARCH_MIB (default 100), BENCH_DIR (default a mktemp
# dir under /var/tmp, removed at the end), MODES (default "one two pair").
# LINK=RATE (e.g. 1gbit; root only) puts each registry behind a link of its own, as two
# sites are: a network namespace, a veth pair and a token-bucket limit of RATE on the
# way to it (tc tbf), instead of 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$(cd "$HERE/../.." && swift build -c release --scratch-path .build-bench --show-bin-path)/stowage}
RUNS=${RUNS:-3}
ARCH_MIB=${ARCH_MIB:-100}
WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/stowage-multi-sync.XXXXXX)}
[[ -n ${BENCH_DIR:-} ]] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/build"
LAYOUT=$WORK/layout
log() { echo "multi-sync: $*" >&2; }

# ------------------------------------------------------------------ input ---
if [[ ! -f $LAYOUT/index.json ]]; then
  log "making the layout: 3 images of 1 MiB base + $ARCH_MIB MiB, and their index"
  head -c 1M /dev/urandom >"$WORK/build/base.bin"
  archives=()
  for arch in amd64 arm64 ppc64le; do
    d=$WORK/build/$arch
    mkdir -p "$d/l1" "$d/l2"
    cp "$WORK/build/base.bin" "$d/l1/base.bin"
    head -c "${ARCH_MIB}M" /dev/urandom >"$d/l2/data.bin"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$d/base.tar" -C "$d/l1" base.bin
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$d/layer.tar" -C "$d/l2" data.bin
    python3 "$HERE/assemble.py" "$d/image" "$arch" "bench:$arch" "$d/base.tar" "$d/layer.tar"
    tar -cf "$d.oci.tar" -C "$d/image" oci-layout index.json blobs
    rm -rf "$d"
    archives+=("$d.oci.tar")
  done
  "$BIN" index create --layout "$LAYOUT" --tag bench/app:multi "${archives[@]}" >/dev/null
  rm -rf "$WORK/build"
fi
# The configs and layers the layout's images reach, each once: what a sync reads.
BLOB_BYTES=$(python3 - "$LAYOUT" <<'PY'
import json, os, sys
root = sys.argv[1]
def load(d): return json.load(open(os.path.join(root, "blobs", "sha256", d.split(":")[1])))
sizes, todo = {}, json.load(open(os.path.join(root, "index.json")))["manifests"]
while todo:
    doc = load(todo.pop()["digest"])
    todo += doc.get("manifests", [])
    for d in ([doc["config"]] if "config" in doc else []) + doc.get("layers", []):
        sizes[d["digest"]] = d["size"]
print(sum(sizes.values()))
PY
)

# -------------------------------------------------------------- registries ---
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
PORTS=()
HOSTS=()
reg_start() { # reg_start N — N fresh registries, access logs on (one line per request)
  reg_stop
  local i port dir
  for ((i = 0; i < $1; i++)); do
    port=$(free_port)
    dir=$WORK/registry-$i
    rm -rf "$dir"
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: stowage-bench
YAML
    if [[ -n ${LINK:-} ]]; then
      ip netns add "msync$i"
      ip link add "msh$i" type veth peer name "msr$i"
      ip link set "msr$i" netns "msync$i"
      ip addr add "10.77.$i.1/24" dev "msh$i"
      ip link set "msh$i" up
      ip netns exec "msync$i" ip addr add "10.77.$i.2/24" dev "msr$i"
      ip netns exec "msync$i" ip link set "msr$i" up
      ip netns exec "msync$i" ip link set lo up
      tc qdisc add dev "msh$i" root tbf rate "$LINK" burst 1mb latency 200ms
      sed -i "s/addr: 127.0.0.1:$port/addr: 10.77.$i.2:$port/" "$dir/config.yml"
      ip netns exec "msync$i" /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
      HOSTS+=("10.77.$i.2:$port")
    else
      /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
      HOSTS+=("127.0.0.1:$port")
    fi
    PIDS+=($!)
    PORTS+=("$port")
    for ((t = 0; t < 100; t++)); do
      curl -fsS -o /dev/null "http://${HOSTS[-1]}/v2/" 2>/dev/null && break
      sleep 0.1
    done
  done
}
reg_stop() {
  local pid i
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [[ -n ${LINK:-} ]]; then
    for ((i = 0; i < 2; i++)); do
      ip link del "msh$i" 2>/dev/null || true
      ip netns del "msync$i" 2>/dev/null || true
    done
  fi
  PIDS=()
  PORTS=()
  HOSTS=()
}
trap 'reg_stop; [[ -n ${BENCH_DIR:-} ]] || rm -rf "$WORK"' EXIT
# Requests the registries answered, from their access logs ("GET /v2/ HTTP/1.1" lines), the readiness pings excluded.
requests() { cat "$WORK"/registry-*/log | grep -c '" [0-9][0-9][0-9] ' || true; }

# Blobs are read cold; stowage's own code and libraries are read back in, so a run does
# not page in its executable from disk (as scripts/bench does).
drop_caches() {
  if [[ $(id -u) == 0 ]]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
  cat "$BIN" $(ldd "$BIN" | awk '/=>/ {print $3}') /usr/bin/docker-registry >/dev/null 2>&1 || true
}

# --------------------------------------------------------------------- runs ---
declare -A WALLS
run() { # run MODE
  local mode=$1 n=2 targets out before
  [[ $mode == one ]] && n=1
  reg_start "$n"
  targets=()
  targets=("${HOSTS[@]}")
  before=$(requests)
  drop_caches
  out=$WORK/$mode.json
  if [[ $mode == pair ]]; then
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" bash -c '
      "$1" sync --layout "$2" --tls-verify=false --json "$3" >"$5.a" & a=$!
      "$1" sync --layout "$2" --tls-verify=false --json "$4" >"$5.b" & b=$!
      wait $a && wait $b' _ "$BIN" "$LAYOUT" "${targets[0]}" "${targets[1]}" "$out"
    python3 -c 'import json,sys; a,b=[json.load(open(f)) for f in sys.argv[1:]]; print(json.dumps({"destinations":a["destinations"]+b["destinations"],"summary":{"blobBytesRead":a["summary"]["blobBytesRead"]+b["summary"]["blobBytesRead"]}}))' "$out.a" "$out.b" >"$out"
  else
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$BIN" sync --layout "$LAYOUT" --tls-verify=false --json "${targets[@]}" >"$out"
  fi
  local wall user sys sent bytes_read regcpu=0 pid
  read -r wall user sys <"$WORK/time"
  for pid in "${PIDS[@]}"; do regcpu=$((regcpu + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  sent=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("/".join(str(d["summary"]["blobsSent"]) for d in r["destinations"]))' "$out")
  bytes_read=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["blobBytesRead"])' "$out")
  printf '%s\twall %.2f s\tstowage user %s s sys %s s\tregistry CPU %.2f s\tblobs sent %s\tblob bytes read %s\tregistry requests %s\tlayout blob bytes %s\n' \
    "$mode" "$wall" "$user" "$sys" "$(echo "$regcpu / $(getconf CLK_TCK)" | bc -l)" "$sent" "$bytes_read" "$(($(requests) - before))" "$BLOB_BYTES"
  WALLS[$mode]+="$wall "
  reg_stop
}
read -r -a MODES <<<"${MODES:-one two pair}"
log "$RUNS runs each${LINK:+, each registry behind a $LINK link}, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < RUNS; r++)); do
  for ((m = 0; m < ${#MODES[@]}; m++)); do run "${MODES[$(((m + r) % ${#MODES[@]}))]}"; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
one=$(echo "${WALLS[one]:-0}" | median)
two=$(echo "${WALLS[two]:-0}" | median)
pair=$(echo "${WALLS[pair]:-0}" | median)
printf 'median\tone %.2f s\ttwo %.2f s\tpair %.2f s\ttwo/one %.2f\tpair/one %.2f\tload average after: %s\n' "$one" "$two" "$pair" \
  "$(echo "$two / $one" | bc -l)" "$(echo "$pair / $one" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
