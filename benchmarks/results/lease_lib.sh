# Shared by the GPU lease scripts of benchmarks/results (sourced, not run): time box, row counts, one bench run,
# and packing a lease's results into $OUT. The caller sets W (a copy of the tree), RES (results), MODE (speed
# mode options of the bench runs), SMOKE (CPU smoke options; empty on the GPU) and LEASE_SCRIPT (the calling script's
# path in the tree: `stage` starts its jobs through it).
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
left() {  # seconds to the deadline (the staging subcommand writes it); a missing file is an error, not 0 s
  [ -f "$W/deadline" ] || { echo "no $W/deadline: start with the staging subcommand" >&2; exit 2; }
  echo $(( $(cat "$W/deadline") - $(date +%s) ))
}
boxed() {  # seconds: the cap, or less to the deadline; at least 1 (timeout reads 0 as "no limit")
  local cap=$1 l; l=$(left); l=$(( l < cap ? l : cap )); echo $(( l < 1 ? 1 : l ))
}
stage() {  # stage MINUTES JOBS…: a copy of the tree in $W, the deadline, the wheels, each job detached
  local minutes=$1; shift
  rm -rf "$W" && mkdir -p "$W" && cp -a . "$W"/ && mkdir -p "$RES/speed" "$RES/probe"
  echo $(( $(date +%s) + 60 * minutes )) > "$W/deadline"
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl
  nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader; nproc
  cd "$W" && for job in "$@"; do
    setsid nohup bash "$LEASE_SCRIPT" "$job" > "$RES/$job.log" 2>&1 < /dev/null &
  done
  sleep 20; tail -n 3 "$RES"/*.log; stamp "staged; deadline in $(left) s"
}
poll_jobs() {  # poll_jobs SECONDS PATTERN: every 30 s while a job matching PATTERN runs (at most SECONDS), the time
  # left and each result folder's rows; then the GPUs, the logs' last lines and the results into $OUT
  local t0; t0=$(date +%s)
  while [ $(( $(date +%s) - t0 )) -lt "$1" ] && pgrep -f "$2" > /dev/null; do
    sleep 30
    stamp "left $(left) s; rows:$(for d in "$RES"/nat-*/; do [ -d "$d" ] && printf ' %s %s' "$(basename "$d")" "$(rows "$d")"; done)"
  done
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  tail -n 4 "$RES"/*.log
  pack_results
}
stop_jobs() {  # stop_jobs PATTERN…: end the jobs and what they started (bench runs, then each PATTERN); the caller's
  # own command line must match no PATTERN (run it as its own call)
  local p; for p in "$@" "invdiff bench"; do pkill -f "$p"; done; sleep 3; stamp "stopped"
}
rows() { cat "$1"/results.jsonl "$1"/shards/*.jsonl 2>/dev/null | wc -l; }
bench() {  # bench SECONDS GPUS SUITE OUT [invdiff bench options…]: one time-boxed run, torchrun for 2+ GPUs
  local secs=$1 gpus=$2 suite=$3 out=$4 n; shift 4
  n=$(awk -F, '{print NF}' <<< "$gpus")
  [ "$secs" -gt 30 ] || { stamp "no time left for $out"; return 0; }
  if [ -n "$SMOKE" ]; then
    timeout -k 10 "$secs" python3 -m invdiff bench "$suite" --out "$out" --quiet "$@" $SMOKE  # SMOKE last: it wins
  elif [ "$n" -gt 1 ]; then
    CUDA_VISIBLE_DEVICES=$gpus timeout -k 20 "$secs" torchrun --standalone --nproc_per_node "$n" -m invdiff bench \
      "$suite" --out "$out" --quiet $MODE "$@"
  else
    CUDA_VISIBLE_DEVICES=$gpus timeout -k 20 "$secs" python3 -m invdiff bench "$suite" --out "$out" --quiet $MODE "$@"
  fi
  local rc=$?
  if [ "$rc" -ne 0 ] && ls "$out"/shards/*.jsonl > /dev/null 2>&1; then  # cut by the time box: rank shards → results.jsonl
    python3 -c "import sys; from pathlib import Path; from invdiff.bench.store import merge_shards; merge_shards(Path(sys.argv[1]))" "$out"
  fi
  stamp "$out: exit $rc, $(rows "$out") rows"
}
pack_results() {  # $RES into $OUT: rows, metas, logs, JSON as res.tgz.part-*; the grids' pictures cut to their
  # centre 256² cell (bench/images.py's crop) as cells.tar.part-*; every part ≤ 15 MiB (cat … | tar xzf - / xf -)
  [ -n "${OUT:-}" ] || return 0
  (cd "$RES" && tar czf - --exclude='images' --exclude='*.pt' --exclude='inductor-cache' .) | split -b 15M - "$OUT/res.tgz.part-"
  rm -rf "$W/cells" && python3 - "$RES" "$W/cells" <<'PY'
import sys
from pathlib import Path
from PIL import Image
res, dst, cell = Path(sys.argv[1]), Path(sys.argv[2]), 256
for p in res.glob("*/images/**/*.png"):
    with Image.open(p) as im:
        w, h = im.size
        left, top = max((w - cell) // 2, 0), max((h - cell) // 2, 0)
        q = dst / p.relative_to(res)
        q.parent.mkdir(parents=True, exist_ok=True)
        (im.crop((left, top, left + cell, top + cell)) if min(w, h) >= cell else im).save(q)
PY
  (cd "$W/cells" 2>/dev/null && tar cf - . | split -b 15M - "$OUT/cells.tar.part-")
  ls -la "$OUT"
}
