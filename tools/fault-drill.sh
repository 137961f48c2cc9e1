#!/usr/bin/env bash
# A fault drill (docs/reliability.md): starts `tfjs-ddp train --workers 2` on DATA, waits for the JSON
# line of step AFTER, sends SIGNAL to TARGET (worker1 or coordinator), and prints the time from the
# signal to the coordinator's log line that names the lost rank. Not a test: it prints numbers.
#   tools/fault-drill.sh DATA RUN_DIR SIGNAL [AFTER [TARGET [train flags...]]]
#   e.g. tools/fault-drill.sh /tmp/data /tmp/run KILL 3 worker1 --resize 32 --batch-size 16 --backend wasm
set -euo pipefail
data=$1 run=$2 sig=$3 after=${4:-3} target=${5:-worker1}
shift $(( $# < 5 ? $# : 5 ))
cd "$(dirname "$0")/.."
rm -rf "$run"
node packages/cli/bin/tfjs-ddp.js train --data-dir "$data" --verify-data false --workers 2 --epochs 1 --run-dir "$run" "$@" >"$run.out" 2>"$run.err" &
coordinator=$!
for _ in $(seq 1 600); do grep -q "\"step\":$after," "$run.out" 2>/dev/null && break; sleep 0.1; done
if [[ $target == coordinator ]]; then pid=$coordinator; else pid=$(grep -o '"pids":\[[0-9,]*\]' "$run/train.log" | head -1 | grep -o '[0-9]\+' | tail -1); fi
t0=$(date +%s%3N)
kill "-$sig" "$pid"
echo "SIG$sig to $target (pid $pid) after step $after at $t0 ms"
wait "$coordinator" && code=0 || code=$?
echo "run exited with $code: $(tail -1 "$run.err")"
lost=$(grep -m1 '"msg":"rank lost' "$run/train.log" | grep -o '"time":[0-9]*' | cut -d: -f2 || true)
[[ -n $lost ]] && echo "rank lost logged $((lost - t0)) ms after the signal"
replaced=$(grep -m1 '"msg":"ranks replaced' "$run/train.log" | grep -o '"time":[0-9]*' | cut -d: -f2 || true)
[[ -n $replaced ]] && echo "replaced and re-synced $((replaced - t0)) ms after the signal"
exit 0
