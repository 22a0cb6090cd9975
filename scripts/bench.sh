#!/usr/bin/env bash
# Side-by-side benchmark: this server against the reference Python ChatKit
# server, measured by the same load generator on the same mock model.
#
#   scripts/bench.sh                          # levels 1 16 64 256, 5 s each, + read mix
#   LEVELS="1 16" DURATION=3 scripts/bench.sh
#
# It sets up the reference venv with ../shared/bench/setup.sh (into
# $BENCH_VENV, default ~/.cache/chatkit-bench-venv; nothing is written into
# ../shared), builds chatkit-server and chatkit-loadtest in release mode,
# starts mock_llm.py, our server (--model responses, titles off), the
# reference (ref_server.py, one uvicorn worker) and the reference with
# --workers 2, all on free loopback ports, runs chatkit-loadtest against
# each server at every level, and writes a markdown table (stdout and
# target/bench/bench-<time>.md; raw JSON lines beside it). Everything it
# started is stopped on exit.
#
# Knobs (environment): LEVELS, DURATION (measured s per run), WARMUP,
# TURNS (messages per conversation), TOKENS (mock deltas per answer),
# READ_T (virtual users of the read runs; 0 skips them), READ_RATIO (reads
# per turn in the mix run), SERVERS (any of "ours ref ref2"), OUT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="$ROOT/../shared/bench"
BENCH_VENV="${BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/chatkit-bench-venv}"; export BENCH_VENV
PY="$BENCH_VENV/bin/python"
LEVELS="${LEVELS:-1 16 64 256}"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
TURNS="${TURNS:-3}"
TOKENS="${TOKENS:-20}"
READ_T="${READ_T:-16}"
READ_RATIO="${READ_RATIO:-2}"
SERVERS="${SERVERS:-ours ref ref2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="${OUT:-$ROOT/target/bench}"
RUN_DIR="$OUT/run-$STAMP"
mkdir -p "$RUN_DIR"

[ -d "$SHARED_BENCH" ] || { echo "bench.sh: $SHARED_BENCH not found (the shared bench folder beside this checkout)" >&2; exit 1; }
bash "$SHARED_BENCH/setup.sh" >"$RUN_DIR/setup.log" 2>&1 || { cat "$RUN_DIR/setup.log" >&2; exit 1; }

echo "bench.sh: building release binaries" >&2
(cd "$ROOT" && cargo build --release --locked -p chatkit-server -p chatkit-loadtest) >&2
SERVER_BIN="$TARGET_DIR/release/chatkit-server"
LOADTEST="$TARGET_DIR/release/chatkit-loadtest"

# Held connections and streams: lift the soft open-files limit for this
# shell and every server it starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PIDS=()
cleanup() {
  local pid i alive
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # wait_port PORT PID NAME LOG
  local i
  # Up to 120 s: the reference's workers import a large stack, slowly on a busy machine.
  for i in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench.sh: $3 exited during start-up; log:" >&2; tail -n 30 "$4" >&2; return 1
    fi
    sleep 0.2
  done
  echo "bench.sh: $3 did not open port $1 within 120 s; log:" >&2; tail -n 30 "$4" >&2; return 1
}

MOCK_PORT="$(free_port)"
MODEL_URL="http://127.0.0.1:$MOCK_PORT/v1"
"$PY" "$SHARED_BENCH/mock_llm.py" --port "$MOCK_PORT" --tokens "$TOKENS" >"$RUN_DIR/mock.log" 2>&1 &
MOCK_PID=$!; PIDS+=("$MOCK_PID")
wait_port "$MOCK_PORT" "$MOCK_PID" mock_llm "$RUN_DIR/mock.log" || exit 1

declare -A PID URL DESC
start_server() {  # start_server NAME
  local name="$1" port db
  port="$(free_port)"
  db="$RUN_DIR/$name.sqlite3"
  case "$name" in
    ours)
      DESC[$name]="chatkit-server --model responses, titles off"
      RUST_LOG=warn "$SERVER_BIN" --port "$port" --db "$db" --model responses \
        --model-base-url "$MODEL_URL" --titles false >"$RUN_DIR/$name.log" 2>&1 &
      ;;
    ref)
      DESC[$name]="ref_server.py --no-tools (1 uvicorn worker)"
      "$PY" "$SHARED_BENCH/ref_server.py" --port "$port" --db "$db" --model-base-url "$MODEL_URL" \
        --no-tools >"$RUN_DIR/$name.log" 2>&1 &
      ;;
    ref2)
      DESC[$name]="ref_server.py --no-tools --workers 2"
      "$PY" "$SHARED_BENCH/ref_server.py" --port "$port" --db "$db" --model-base-url "$MODEL_URL" \
        --no-tools --workers 2 >"$RUN_DIR/$name.log" 2>&1 &
      ;;
    *) echo "bench.sh: unknown server $name" >&2; exit 1 ;;
  esac
  PID[$name]=$!; PIDS+=("${PID[$name]}")
  URL[$name]="http://127.0.0.1:$port/chatkit"
  wait_port "$port" "${PID[$name]}" "$name" "$RUN_DIR/$name.log"
}
# A server that does not start is left out of the table (and said so).
STARTED=""
for name in $SERVERS; do
  if start_server "$name"; then
    STARTED="$STARTED $name"
  else
    echo "bench.sh: WARNING: leaving $name out" >&2
    kill -KILL "${PID[$name]}" 2>/dev/null || true
  fi
done
SERVERS="${STARTED# }"
[ -n "$SERVERS" ] || { echo "bench.sh: no server started" >&2; exit 1; }

{
  echo "# $(date -Is): $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(awk '/MemTotal/{printf "%.1f GB", $2/1048576}' /proc/meminfo), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# mock_llm.py --tokens $TOKENS on $MODEL_URL; $TURNS turns per conversation; ${WARMUP}s warm-up + ${DURATION}s measured per run"
  for name in $SERVERS; do echo "# $name: ${DESC[$name]} (pid ${PID[$name]})"; done
} | tee "$RUN_DIR/header.txt" >&2

RESULTS="$RUN_DIR/results.jsonl"
: >"$RESULTS"
run_one() {  # run_one SERVER LEVEL-NAME loadtest-args...
  local name="$1" level="$2"; shift 2
  echo "bench.sh: $name $level" >&2
  if ! "$LOADTEST" --url "${URL[$name]}" --server-pid "${PID[$name]}" --warmup "$WARMUP" \
      --duration "$DURATION" --json --no-progress --label "$name $level" "$@" \
      >"$RUN_DIR/$name-$level.json" 2>"$RUN_DIR/$name-$level.txt"; then
    echo "bench.sh: chatkit-loadtest failed for $name $level:" >&2; cat "$RUN_DIR/$name-$level.txt" >&2; exit 1
  fi
  "$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); r["server_name"]=sys.argv[2]; r["level"]=sys.argv[3]; print(json.dumps(r))' \
    "$RUN_DIR/$name-$level.json" "$name" "$level" >>"$RESULTS"
}

i=0
for T in $LEVELS; do
  # Rotate the order per level so the machine's drift hits every server alike.
  set -- $SERVERS
  for _ in $(seq $((i % $#))); do set -- "${@:2}" "$1"; done
  for name in "$@"; do
    run_one "$name" "chat T=$T" -c "$T" --turns "$TURNS" --expect echo
  done
  i=$((i + 1))
done
if [ "$READ_T" -gt 0 ]; then
  for name in $SERVERS; do
    run_one "$name" "mix T=$READ_T" -c "$READ_T" --turns "$TURNS" --expect echo --read-ratio "$READ_RATIO"
  done
  for name in $SERVERS; do
    run_one "$name" "reads T=$READ_T" -c "$READ_T" --turns "$TURNS" --mode read --seed-threads 2
  done
fi

# Peak RSS (VmHWM) of each server, with its worker processes.
PEAKS="$RUN_DIR/peaks.txt"
: >"$PEAKS"
for name in $SERVERS; do
  kb=0
  for p in ${PID[$name]} $(pgrep -P "${PID[$name]}" || true); do
    v="$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
    kb=$((kb + ${v:-0}))
  done
  echo "$name $kb" >>"$PEAKS"
done

TABLE="$OUT/bench-$STAMP.md"
"$PY" - "$RESULTS" "$PEAKS" "$RUN_DIR/header.txt" <<'EOF' | tee "$TABLE"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peaks = dict(l.split() for l in open(sys.argv[2]) if l.strip())
header = open(sys.argv[3]).read()
servers = list(dict.fromkeys(r["server_name"] for r in rows))
levels = list(dict.fromkeys(r["level"] for r in rows))
by = {(r["server_name"], r["level"]): r for r in rows}

def rate(r):
    return r["reads_per_s"] if r["mode"] == "read" else r["turns_per_s"] + r["reads_per_s"]

def lat(r):
    l = r["read_ms"] if r["mode"] == "read" else r["end_of_stream_ms"]
    return f"{l['p50']:.1f} / {l['p99']:.1f}" if l else "-"

def cpu_per_op(r):
    ops = r["turns_ok"] + r["reads_ok"]
    s = r.get("server")
    return f"{1000 * s['cpu_s'] / ops:.2f}" if s and ops else "-"

def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"

print(header.rstrip())
print()
cols = ["run"]
cols += [f"{s} ops/s" for s in servers]
if "ours" in servers:
    cols += [f"ours ÷ {s}" for s in servers if s != "ours"]
cols += [f"{s} p50 / p99 ms" for s in servers]
cols += [f"{s} CPU ms/op" for s in servers]
cols += ["errors (" + " / ".join(servers) + ")"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for lv in levels:
    rs = [by.get((s, lv)) for s in servers]
    cells = [lv]
    cells += [f"{rate(r):.1f}" if r else "-" for r in rs]
    if "ours" in servers:
        ours = by.get(("ours", lv))
        cells += [ratio(rate(ours) if ours else 0, rate(r) if r else 0)
                  for s, r in zip(servers, rs) if s != "ours"]
    cells += [lat(r) if r else "-" for r in rs]
    cells += [cpu_per_op(r) if r else "-" for r in rs]
    cells += [" / ".join(str(r["errors"]["total"]) if r else "-" for r in rs)]
    print("| " + " | ".join(cells) + " |")
print()
print("ops/s: ok turns/s (chat), turns + reads /s (mix), reads/s (reads). "
      "Latency: end of stream for turns, whole request for reads. "
      "CPU ms/op: server CPU time over the measured window / ok operations.")
peak_mb = {s: int(peaks.get(s, 0)) / 1024 for s in servers}
line = ", ".join(f"{s} {peak_mb[s]:.1f} MB" for s in servers)
if "ours" in servers and peak_mb.get("ours"):
    line += "; " + ", ".join(f"{s} ÷ ours {peak_mb[s] / peak_mb['ours']:.1f}x"
                             for s in servers if s != "ours")
print(f"Peak RSS (VmHWM, with worker processes): {line}")
EOF
echo "bench.sh: table in $TABLE, raw results in $RUN_DIR" >&2
