#!/usr/bin/env bash
# One lease (issue 20, session of 2026-11-26, fifth) on 4 GPUs: does the windowed attention's rewrite bring the
# compile at 768×512 down on the GPU; DPS's ζ for the natural tasks on the validation split; DPS-1000 on the tasks
# it has no rows for. Suites: configs/bench/natural-tune.yaml (validation: 6 BSD100 images outside CBSD68) and
# configs/bench/natural.yaml (the table); the shipped int8 prior. Rows join benchmarks/results/natural with
# join_runs.py. Every process shares one inductor cache ($W/inductor-cache).
#
#   call 1 (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels; the tree without the face
#           priors and figures: python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu_issue20_s5.sh stage [MINUTES] [POLL_SECONDS]
#   calls 2…: bash benchmarks/results/run_gpu_issue20_s5.sh poll SECONDS   (results to $OUT as ≤ 15 MiB parts:
#       cat res.tgz.part-* | tar xzf -; cat cells.tar.part-* | tar xf -); `… stop` ends the jobs.
#
# GPU 0 (job gpu0): compile_probe.py, mode `compiled` (--fast), at 768×512 then 480×320 in one process. If its
#   first calls at 768×512 took ≤ GATE_FWD s (forward) and ≤ GATE_BOTH s (forward + backward) — before the rewrite:
#   118 s and > 408 s — the 768×512 speed table compiled (run_gpu.sh natural768: DDRM-20, DPS-1000, RePaint against
#   their floor), then RePaint compiled on gpu8's blurs and ×4 SR; otherwise DPS-1000 in eager fp32 on random
#   inpainting (nat-dps-rand).
# GPU 1 (job gpu1): the same probe in `compiled-dynamic` (one graph for every shape?), then DPS-1000 in eager fp32
#   on box inpainting (nat-dps-box; ζ = 2, chosen on the validation split).
# GPUs 2–3 (job tune23, torchrun, eager fp32): the ζ sweep of DPS-100 on the validation split — ζ 2, 3, 4 on the
#   four tasks where the first sweep's choice, 2, sat at its grid's top; every ζ on ×4 SR and JPEG, which it never
#   reached — then choose_settings.py + tuned_suite.py on those rows (→ natural-tuned.yaml), then DPS-1000 with the
#   chosen ζ on ×4 SR (nat-dps-sr4; replaces the untuned rows) and JPEG (nat-dps-jpeg).
# Every bench job stops at the deadline; rows of a cut run are kept (bench resumes).
# As run (2026-11-26, 4 × H100): `stage 21 470`, `poll 540`, `poll 260`, then `finish 5` (5 more minutes: RePaint's
#   last 5 rows and DPS-1000 on random inpainting, 12 of 16), 27 minutes held. The gate passed (45 s / 81 s);
#   every job above ran to its end; the dynamic probe was cut after its forward (147 s).
#   Results: benchmarks/results/natural (README), natural-tune2, speed.
# CPU smoke (a copy of the tree in W, small images in W/.carry/natural-eval, a tiny any-size prior):
#   SMOKE="--device cpu --limit 1 --prior PATH" PROBE="--device cpu --size 24x40 --prior PATH --reps 1" \
#   W=/tmp/smoke5 bash … run-all
set -uo pipefail
W=${W:-/tmp/w}; RES=${RES:-$W/res}; SMOKE=${SMOKE:-}; PROBE=${PROBE:-}
MODE=${MODE-}  # eager fp32 unless set (--fast: compiled)
GATE_FWD=${GATE_FWD:-120}; GATE_BOTH=${GATE_BOTH:-240}
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} TORCHINDUCTOR_CACHE_DIR=$W/inductor-cache
SUITE=configs/bench/natural.yaml; VAL=configs/bench/natural-tune.yaml
LEASE_SCRIPT=benchmarks/results/run_gpu_issue20_s5.sh
. "$(dirname "$0")/lease_lib.sh"  # stamp, left, boxed, stage, rows, bench, pack_results

probe() {  # probe GPU VARIANT: compile_probe.py at 768×512 then 480×320 → $RES/probe/compile_probe_shapes_VARIANT.json
  stamp "compile probe $2 on GPU $1: 512x768, then 320x480"
  CUDA_VISIBLE_DEVICES=$1 timeout -k 10 "$(boxed 330)" python3 benchmarks/speed/compile_probe.py \
    --size 512x768,320x480 --variants "$2" --out "$RES/probe/compile_probe_shapes_$2.json" \
    ${PROBE:+--variants eager-fp32 $PROBE} > "$RES/probe-$2.run.log" 2>&1
  stamp "probe $2 exit $?"
}
compiles_fast() {  # exit 0 when the static probe's first row has both first calls within the gate
  python3 - "$RES/probe/compile_probe_shapes_compiled.json" "$GATE_FWD" "$GATE_BOTH" <<'PY'
import json, sys
try:
    row = json.load(open(sys.argv[1]))["variants"][0]
except (OSError, ValueError, IndexError, KeyError):
    sys.exit(1)
fwd, both = row.get("forward_first_s"), row.get("forward_backward_first_s")
print(f"compiled first calls: forward {fwd} s, forward + backward {both} s")
sys.exit(0 if fwd is not None and both is not None and fwd <= float(sys.argv[2]) and both <= float(sys.argv[3]) else 1)
PY
}

case "${1:-}" in
  stage) stage "${2:-21}" gpu0 gpu1 tune23; bash "$0" poll "${3:-0}" ;;
  run-all)  # CPU smoke: the jobs one after another
    mkdir -p "$RES/speed" "$RES/probe"; echo $(( $(date +%s) + 3600 )) > "$W/deadline"
    for job in gpu0 gpu1 tune23; do bash "$0" "$job"; done ;;
  gpu0)
    cd "$W"; probe 0 compiled
    if compiles_fast; then
      if [ -z "$SMOKE" ]; then
        stamp "the 768×512 speed table, compiled"
        CUDA_VISIBLE_DEVICES=0 OUT=$RES/speed timeout -k 10 "$(boxed 480)" \
          bash benchmarks/speed/run_gpu.sh natural768 > "$RES/speed-natural768.log" 2>&1
        stamp "speed exit $?"
      fi
      stamp "RePaint compiled on gpu8: blurs and ×4 SR"
      MODE=--fast bench "$(left)" 0 "$SUITE" "$RES/nat-repaint" --only repaint \
        --tasks gaussian_blur,motion_blur,sr4 > "$RES/nat-repaint.log" 2>&1
    else
      stamp "the compile is still slow: DPS-1000 (eager fp32) on random inpainting"
      bench "$(left)" 0 "$SUITE" "$RES/nat-dps-rand" --only dps --tasks inpaint_random > "$RES/nat-dps-rand.log" 2>&1
    fi
    stamp "gpu0 done" ;;
  gpu1)
    cd "$W"; probe 1 compiled-dynamic
    stamp "DPS-1000 (eager fp32) on box inpainting"
    bench "$(left)" 1 "$SUITE" "$RES/nat-dps-box" --only dps --tasks inpaint_box > "$RES/nat-dps-box.log" 2>&1
    stamp "gpu1 done" ;;
  tune23)
    cd "$W"; stamp "DPS-100 ζ sweep on the validation split (eager fp32)"
    bench "$(boxed 420)" 2,3 "$VAL" "$RES/nat-tune2" --only 'dps@zeta=2,dps@zeta=3,dps@zeta=4' \
      --tasks 'inpaint_box,inpaint_random,gaussian_blur,motion_blur' > "$RES/nat-tune2.log" 2>&1
    bench "$(boxed 300)" 2,3 "$VAL" "$RES/nat-tune2" --only 'dps*' --tasks sr4,jpeg10 >> "$RES/nat-tune2.log" 2>&1
    mkdir -p "$RES/nat-tune2-choice"
    python3 benchmarks/tuning/choose_settings.py "$RES/nat-tune2" --val "$VAL" --out "$RES/nat-tune2-choice" \
      --test-suite "$RES/nat-tune2-choice/unused.yaml" --name unused >> "$RES/nat-tune2.log" 2>&1 \
      && python3 benchmarks/natural/tuned_suite.py "$RES/nat-tune2-choice/chosen.json" \
        --out "$RES/nat-tune2-choice/natural-tuned.yaml" >> "$RES/nat-tune2.log" 2>&1
    tuned=$RES/nat-tune2-choice/natural-tuned.yaml
    [ -f "$tuned" ] || { stamp "no tuned suite: DPS-1000 keeps natural.yaml's ζ"; tuned=$SUITE; }
    grep -A8 "^  dps:" "$tuned"
    stamp "DPS-1000 (eager fp32) on ×4 SR, then JPEG, with the chosen ζ"
    bench "$(left)" 2,3 "$tuned" "$RES/nat-dps-sr4" --only dps --tasks sr4 > "$RES/nat-dps-sr4.log" 2>&1
    bench "$(left)" 2,3 "$tuned" "$RES/nat-dps-jpeg" --only dps --tasks jpeg10 > "$RES/nat-dps-jpeg.log" 2>&1
    stamp "tune23 done" ;;
  finish)  # the lease's last minutes (MINUTES, default 5): RePaint's remaining rows on GPU 0 (compiled, warm inductor
    # cache) and DPS-1000 (eager fp32) on random inpainting on GPUs 1–3, then the results to $OUT
    echo $(( $(date +%s) + 60 * ${2:-5} )) > "$W/deadline"; cd "$W"
    MODE=--fast bench "$(left)" 0 "$SUITE" "$RES/nat-repaint" --only repaint --tasks gaussian_blur,motion_blur,sr4 \
      > "$RES/nat-repaint-2.log" 2>&1 &
    bench "$(left)" 1,2,3 "$SUITE" "$RES/nat-dps-rand" --only dps --tasks inpaint_random > "$RES/nat-dps-rand.log" 2>&1
    wait; tail -n 3 "$RES/nat-repaint-2.log" "$RES/nat-dps-rand.log"; pack_results ;;
  poll) poll_jobs "${2:-500}" "run_gpu_issue20_s5.sh (gpu|tune)" ;;
  stop)  # end every job now; run it as its own call (these patterns are in no caller's command line)
    stop_jobs "run_gpu_issue20_s5.sh (gpu|tune)" "benchmarks/speed/" ;;
  *) echo "usage: $0 stage [MINUTES] [POLL_SECONDS] | poll SECONDS | finish [MINUTES] | stop  (the jobs run detached)" >&2
     exit 2 ;;
esac
