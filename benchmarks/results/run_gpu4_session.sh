#!/usr/bin/env bash
# One lease of a 4-GPU machine (2026-11-26, 30 min of device time) for issues 16 and 20, in calls that each return
# quickly while the work runs detached (setsid) in copies of the tree under /tmp, so later calls can carry other files:
#
#   call 1 (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels .carry/data; the tree with
#           the natural weights, without faces64*: travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu4_session.sh stage-natural MINUTES
#     → GPUs 2,3: the natural validation sweep (configs/bench/natural-tune.yaml, --fast), the choice
#       (choose_settings.py → chosen.json), the tuned suite (tuned_suite.py), then DPS-1000 of the tuned suite on gpu8.
#   call 2 (carry .carry/peers-wheels-deepinv; the tree with faces64, without natural*: leave-out natural faces64-sr4):
#       bash benchmarks/results/run_gpu4_session.sh stage-faces
#     → GPU 0: faces64-issue16-v2.yaml for the solvers whose defaults changed (fp32, as its table), the training
#       throughput per setting (benchmarks/natural/throughput.py, ≤ 200 s), then RePaint on the natural gpu8 subset
#       (--fast; tasks in suite order until the deadline);
#       GPU 1: the 256² speed run against deepinv (run_gpu.sh issue16), the 768×512 speed table (run_gpu.sh natural768),
#       then DiffPIR / DDNM⁺ / ΠGDM / DPS-100 of the tuned natural suite on gpu8 (--fast).
#   calls 3… (nothing carried):  bash benchmarks/results/run_gpu4_session.sh poll SECONDS   (copies results to $OUT)
#
# Every job stops at the deadline MINUTES after call 1 (default 22); rows of a cut run are kept (bench resumes).
# The 2026-11-26 lease ran this script as of commit 9f9e0d7 (GPU 1 relaunched by hand with PYTHONPATH=/tmp/site);
# later edits: GPU 1's PYTHONPATH, the 540 s box for natural768, the failure marker of the natural branch.
# CPU smoke of the natural chain: SMOKE="--device cpu --limit 1 --prior PATH" ONLY_TUNE='dps@zeta=1,ddnm@eta=1' \
#   W=/tmp/smoke bash benchmarks/results/run_gpu4_session.sh natural
set -uo pipefail
W=${W:-/tmp/w}; WF=${WF:-/tmp/wf}; RES=${RES:-$W/res}; SMOKE=${SMOKE:-}
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/inductor}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
left() { echo $(( $(cat "$W/deadline") - $(date +%s) )); }
rows() { cat "$1"/results.jsonl "$1"/shards/*.jsonl 2>/dev/null | wc -l; }
bench() {  # bench SECONDS GPUS SUITE OUT ONLY [FAST]: one time-boxed `invdiff bench`, under torchrun for 2+ GPUs
  local secs=$1 gpus=$2 suite=$3 out=$4 only=$5 fast=${6---fast} n
  n=$(awk -F, '{print NF}' <<< "$gpus")
  [ "$secs" -gt 30 ] || { stamp "no time left for $out"; return 0; }
  if [ -n "$SMOKE" ]; then
    timeout -k 10 "$secs" python3 -m invdiff bench "$suite" --out "$out" --only "$only" --quiet $SMOKE
  elif [ "$n" -gt 1 ]; then
    CUDA_VISIBLE_DEVICES=$gpus timeout -k 20 "$secs" torchrun --standalone --nproc_per_node "$n" -m invdiff bench \
      "$suite" --out "$out" --only "$only" --quiet $fast
  else
    CUDA_VISIBLE_DEVICES=$gpus timeout -k 20 "$secs" python3 -m invdiff bench "$suite" --out "$out" --only "$only" \
      --quiet $fast
  fi
  stamp "$out: exit $?, $(rows "$out") rows"
}
natural_env() {
  export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
}

case "${1:-}" in
  stage-natural)
    rm -rf "$W" && mkdir -p "$W" && cp -a . "$W"/ && mkdir -p "$W/res"
    echo $(( $(date +%s) + 60 * ${2:-22} )) > "$W/deadline"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl
    nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
    cd "$W" && setsid nohup bash benchmarks/results/run_gpu4_session.sh natural > "$W/res/natural.log" 2>&1 < /dev/null &
    sleep 5; cat "$W/res/natural.log"; stamp "staged; deadline in $(left) s" ;;
  natural)  # GPUs 2,3
    natural_env; cd "$W"; mkdir -p "$RES"
    stamp "natural validation sweep"
    bench $(( $(left) < 420 ? $(left) : 420 )) 2,3 configs/bench/natural-tune.yaml "$RES/nat-tune" \
      "${ONLY_TUNE:-*}" > "$RES/nat-tune.log" 2>&1; tail -n 2 "$RES/nat-tune.log"
    python3 benchmarks/tuning/choose_settings.py "$RES/nat-tune" --val configs/bench/natural-tune.yaml \
      --out "$RES/nat-chosen" --name unused && \
      python3 benchmarks/natural/tuned_suite.py "$RES/nat-chosen/chosen.json" --out "$RES/natural-tuned.yaml.part" && \
      mv "$RES/natural-tuned.yaml.part" "$RES/natural-tuned.yaml"  # GPU 1 waits for this file
    [ -f "$RES/natural-tuned.yaml" ] || { stamp "no tuned suite"; touch "$RES/natural-tuned.failed"; exit 1; }
    bench "$(left)" 2,3 "$RES/natural-tuned.yaml" "$RES/nat-dps" dps > "$RES/nat-dps.log" 2>&1
    tail -n 2 "$RES/nat-dps.log"; stamp "natural done" ;;
  stage-faces)
    rm -rf "$WF" && mkdir -p "$WF" && cp -a . "$WF"/ && mkdir -p "$WF/.carry"
    for f in alexnet-features.safetensors wheels data natural-eval; do ln -sfn "$W/.carry/$f" "$WF/.carry/$f"; done
    cp "$W"/invdiff/weights/natural* "$WF/invdiff/weights/"
    cd "$WF"
    setsid nohup bash benchmarks/results/run_gpu4_session.sh gpu0 > "$W/res/gpu0.log" 2>&1 < /dev/null &
    setsid nohup bash benchmarks/results/run_gpu4_session.sh gpu1 > "$W/res/gpu1.log" 2>&1 < /dev/null &
    sleep 5; tail -n 3 "$W/res/natural.log"; stamp "faces and speed started; deadline in $(left) s" ;;
  gpu0)
    cd "$WF"; mkdir -p "$RES/speed"; export PYTHONPATH=/tmp/site INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
    stamp "faces64-issue16-v2: the solvers whose defaults changed"
    INVDIFF_DATA=$W/.carry/data bench "$(left)" 0 configs/bench/faces64-issue16-v2.yaml "$RES/f-v2" \
      'dps-tuned-*,ddnm-*,pigdm-*,measurement' "" > "$RES/f-v2.log" 2>&1
    tail -n 1 "$RES/f-v2.log"
    stamp "training throughput per setting (synthetic 64² crops, batch 512)"
    CUDA_VISIBLE_DEVICES=0 timeout -k 20 200 python3 benchmarks/natural/throughput.py --batch 512 --steps 60 \
      --deadline-s 170 --out "$RES/speed/throughput.json" > "$RES/throughput.log" 2>&1
    stamp "throughput exit $?"
    natural_env; stamp "natural RePaint on gpu8"
    bench "$(left)" 0 configs/bench/natural.yaml "$RES/nat-repaint" repaint > "$RES/nat-repaint.log" 2>&1
    stamp "gpu0 done" ;;
  gpu1)
    cd "$WF"; export PYTHONPATH=/tmp/site  # pypng for the speed scripts (the 2026-11-26 run lost 3 min without it)
    stamp "256² speed against deepinv"
    OUT=$RES/speed timeout -k 10 360 bash benchmarks/speed/run_gpu.sh issue16 > "$RES/speed-issue16.log" 2>&1
    stamp "issue16 speed exit $?"
    OUT=$RES/speed timeout -k 10 $(( $(left) < 540 ? $(left) : 540 )) bash benchmarks/speed/run_gpu.sh natural768 \
      > "$RES/speed-natural768.log" 2>&1
    stamp "natural768 speed exit $?"
    while [ ! -f "$RES/natural-tuned.yaml" ] && [ ! -f "$RES/natural-tuned.failed" ] && [ "$(left)" -gt 60 ]; do
      sleep 10
    done
    natural_env; stamp "natural few-step solvers (tuned) on gpu8"
    bench "$(left)" 1 "$RES/natural-tuned.yaml" "$RES/nat-few" 'diffpir,ddnm,pigdm,dps-100' > "$RES/nat-few.log" 2>&1
    stamp "gpu1 done" ;;
  poll)
    t0=$(date +%s)
    while [ $(( $(date +%s) - t0 )) -lt "${2:-500}" ] && pgrep -f "run_gpu4_session.sh (natural|gpu0|gpu1)" > /dev/null; do
      sleep 30
      stamp "left $(left) s; rows: tune $(rows "$RES/nat-tune") dps $(rows "$RES/nat-dps") repaint \
$(rows "$RES/nat-repaint") few $(rows "$RES/nat-few") f-v2 $(rows "$RES/f-v2")"
    done
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
    tail -n 4 "$RES"/*.log
    if [ -n "${OUT:-}" ]; then  # everything small: rows, metas, logs, chosen settings, speed JSON (no images)
      (cd "$RES" && tar czf "$OUT/res.tar.gz" --exclude='*.png' --exclude='images' --exclude='*.pt' .)
      ls -la "$OUT"
    fi ;;
  *) echo "usage: $0 stage-natural [MINUTES] | stage-faces | poll SECONDS  (natural, gpu0, gpu1 run detached)" >&2
     exit 2 ;;
esac
