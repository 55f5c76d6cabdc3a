#!/usr/bin/env bash
# The door's numbers, as bench/RESULTS.md quotes them: per-stage latency of the pipeline on
# 640×480 frames with tract (edge-agent bench) against onnxruntime on the same models and
# frames (bench/ort), the agent's memory while it runs, and its binary size.
#
#   bench/door.sh            needs ../shared (photos, UltraFace) and Python 3 with venv
#
# Frames are made from the shared test photos into $FRAMES (never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
FRAMES=${FRAMES:-/tmp/maskgate-door-frames}
SECONDS_RUN=${SECONDS_RUN:-60}
ULTRAFACE=$SHARED/models/ultraface-rfb-320.onnx
MODEL=models/maskgate-cnn-v1.json

step() { printf '\n==> %s\n' "$*" >&2; }

step "release build of edge-agent; debug build of the server"
cargo build --release --locked -p maskgate-edge-agent
cargo build --locked -p maskgate-api --bin maskgate
AGENT=target/release/edge-agent

step "onnxruntime venv and frames"
if [ ! -x bench/ort/.venv/bin/python ]; then
    python3 -m venv bench/ort/.venv
    bench/ort/.venv/bin/pip install -q -r bench/ort/requirements.txt
fi
bench/ort/.venv/bin/python bench/ort/make_frames.py --photos "$SHARED/data/masks/test" \
    --out "$FRAMES" --count 40 >&2

step "latency: tract and onnxruntime, back to back (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for round in 1 2; do
    echo "## round $round"
    echo "### tract, UltraFace-320 + maskgate-cnn-v1"
    "$AGENT" bench "$FRAMES" --model "$MODEL" --detector ultraface --detector-model "$ULTRAFACE" --repeat 10
    echo "### onnxruntime (weights removed from the detector's inputs)"
    bench/ort/.venv/bin/python bench/ort/ort_bench.py --frames "$FRAMES" --detector "$ULTRAFACE" \
        --classifier "$MODEL" --repeat 10 --warmup
    echo "### onnxruntime (detector file as is)"
    bench/ort/.venv/bin/python bench/ort/ort_bench.py --frames "$FRAMES" --detector "$ULTRAFACE" \
        --classifier "$MODEL" --repeat 10 --warmup --detector-as-is
done
echo "### tract, SeetaFace (embedded) + maskgate-cnn-v1"
"$AGENT" bench "$FRAMES" --model "$MODEL" --detector seetaface --repeat 5
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

step "memory: the agent deciding at 5 fps for ${SECONDS_RUN} s, uploading to a local server"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MASKGATE_DATABASE_URL="sqlite://$work/maskgate.db"
target/debug/maskgate migrate >/dev/null 2>&1
target/debug/maskgate device add door >"$work/token" 2>/dev/null
MASKGATE_BIND=127.0.0.1:$port target/debug/maskgate serve >"$work/server.log" 2>&1 &
cat >"$work/edge.toml" <<TOML
[server]
url = "http://127.0.0.1:$port"
token_file = "token"
[camera]
source = "folder"
path = "$FRAMES"
fps = 5.0
hold_frames = 5
gap_frames = 4
repeat = true
[detector]
kind = "ultraface"
model = "$(realpath "$ULTRAFACE")"
[classifier]
model = "$(realpath "$MODEL")"
[queue]
path = "queue.db"
TOML
sleep 1
"$AGENT" run --config "$work/edge.toml" >"$work/decisions.jsonl" 2>"$work/agent.log" &
agent=$!
peak=0
for _ in $(seq 1 "$SECONDS_RUN"); do
    sleep 1
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")
    [ "$rss" -gt "$peak" ] && peak=$rss
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
kill -TERM "$agent"; wait "$agent" || true
echo "agent RSS: peak sampled $((peak / 1024)) MiB, VmHWM $((hwm / 1024)) MiB; decisions: $(wc -l <"$work/decisions.jsonl")"

step "binary size"
cp "$AGENT" "$work/edge-agent.stripped" && strip "$work/edge-agent.stripped"
echo "edge-agent release: $(stat -c %s "$AGENT") bytes, stripped $(stat -c %s "$work/edge-agent.stripped") bytes"
