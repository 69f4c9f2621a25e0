#!/usr/bin/env bash
# One lease (issue 20, session of 2026-11-26, fourth): DPS-1000 and RePaint on the natural suite's gpu8 in the
# compiled fast mode (`--fast`), and where the compile time goes. Every run uses configs/bench/natural.yaml (the
# tuned suite) and the shipped int8 prior; rows join benchmarks/results/natural with join_runs.py (new folders:
# that folder holds fast-eager rows, and a folder never mixes speed modes). All processes share one inductor
# cache ($W/inductor-cache), so a graph compiled by one is loaded, not compiled, by the next of the same shape.
#
#   call 1 (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels; the tree without the face
#           priors and figures: python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu_issue20_compiled.sh stage4 [MINUTES]   (4 GPUs; stage2 on 2 GPUs)
#   calls 2…: bash benchmarks/results/run_gpu_issue20_compiled.sh poll SECONDS   (results to $OUT as ≤ 15 MiB
#       parts: cat res.tgz.part-* | tar xzf -; cat cells.tar.part-* | tar xf -); `… stop` ends the jobs.
#
# 4 GPUs: GPU 0 — benchmarks/speed/compile_probe.py at 768×512 (eager variants, then the compiled mode with the
#   compiler's breakdown), the 768×512 speed table compiled (run_gpu.sh natural768: DPS-1000 and RePaint against
#   their floor; its graphs come from the probe's cache entries), then RePaint on the blurs and ×4 SR.
#   GPUs 1–3 (torchrun; invdiff.bench.ranks gives each rank few shapes): DPS-1000 on the blurs and ×4 SR (the
#   PSNR goals), then on inpainting and JPEG.
# 2 GPUs: GPU 0 as above; GPU 1 alone the DPS runs.
# As run (2026-11-26, 4 × H200): stage4 22, polls; the probe measured 118 s for the compiled forward graph alone and
#   the DPS ranks had no row after 9.5 min of compiling, so `restart-eager 13` ended every job and ran DPS-1000 in
#   eager fp32 on all four GPUs (43 of 48 rows); RePaint and the compiled speed table did not run.
# Every bench job stops at the deadline; rows of a cut run are kept (bench resumes).
# CPU smoke of the chain (a copy of the tree in W, small images in W/.carry/natural-eval, a tiny any-size prior):
#   SMOKE="--device cpu --limit 1 --prior PATH" PROBE="--device cpu --size 24x40 --prior PATH --reps 1" \
#   W=/tmp/smoke bash … run-all
set -uo pipefail
W=${W:-/tmp/w}; RES=${RES:-$W/res}; SMOKE=${SMOKE:-}; PROBE=${PROBE:-}
MODE=${MODE---fast}  # set but empty: eager fp32 (no --fast)
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} TORCHINDUCTOR_CACHE_DIR=$W/inductor-cache
SUITE=configs/bench/natural.yaml
FIRST='gaussian_blur,motion_blur,sr4'
LEASE_SCRIPT=benchmarks/results/run_gpu_issue20_compiled.sh
. "$(dirname "$0")/lease_lib.sh"  # stamp, left, boxed, stage, rows, bench, pack_results

case "${1:-}" in
  stage4) stage "${2:-22}" probe dps123 ;;
  stage-probe) stage "${2:-8}" probe-static probe-dynamic ;;  # the next lease's first minutes: does the windowed
    # attention's rewrite bring the compile at 768×512 down on the GPU, and does a second shape compile again?
  stage2) stage "${2:-22}" probe dps1 ;;
  run-all)  # CPU smoke: the jobs one after another
    mkdir -p "$RES/speed" "$RES/probe"; echo $(( $(date +%s) + 3600 )) > "$W/deadline"
    for job in probe dps1; do bash "$0" "$job"; done ;;
  probe)  # GPU 0
    cd "$W"; stamp "compile probe at 768×512"
    CUDA_VISIBLE_DEVICES=0 timeout -k 10 "$(boxed 720)" python3 benchmarks/speed/compile_probe.py --size 512x768 \
      --out "$RES/probe/compile_probe_768.json" ${PROBE:+--variants eager-fp32 $PROBE} > "$RES/probe.run.log" 2>&1
    stamp "probe exit $?"
    if [ -z "$SMOKE" ] && [ "$(left)" -gt 120 ]; then
      stamp "the 768×512 speed table, compiled"
      CUDA_VISIBLE_DEVICES=0 OUT=$RES/speed timeout -k 10 "$(boxed 480)" bash benchmarks/speed/run_gpu.sh natural768 \
        > "$RES/speed-natural768.log" 2>&1
      stamp "speed exit $?"
    fi
    stamp "RePaint on gpu8: blurs and ×4 SR"
    bench "$(left)" 0 "$SUITE" "$RES/nat-repaint" --only repaint --tasks "$FIRST" > "$RES/nat-repaint.log" 2>&1
    stamp "probe job done" ;;
  probe-static|probe-dynamic)  # GPU 0 / GPU 1: compiled and compiled-dynamic, 768×512 then 480×320 in one process
    cd "$W"; v=compiled; gpu=0; [ "$1" = probe-dynamic ] && { v=compiled-dynamic; gpu=1; }
    stamp "compile probe $v: 512x768, then 320x480"
    CUDA_VISIBLE_DEVICES=$gpu timeout -k 10 "$(boxed 600)" python3 benchmarks/speed/compile_probe.py \
      --size 512x768,320x480 --variants "$v" --out "$RES/probe/compile_probe_shapes_$v.json" \
      ${PROBE:+--variants eager-fp32 $PROBE} > "$RES/$1.run.log" 2>&1
    stamp "probe $v exit $?" ;;
  dps123|dps1)  # GPUs 1–3 under torchrun, or GPU 1 alone
    cd "$W"; gpus=1,2,3; [ "$1" = dps1 ] && gpus=1
    stamp "DPS-1000 on gpu8: blurs and ×4 SR"
    bench "$(left)" "$gpus" "$SUITE" "$RES/nat-dps" --only dps --tasks "$FIRST" > "$RES/nat-dps.log" 2>&1
    stamp "DPS-1000 on gpu8: inpainting and JPEG"
    bench "$(left)" "$gpus" "$SUITE" "$RES/nat-dps" --only dps >> "$RES/nat-dps.log" 2>&1
    stamp "dps job done" ;;
  restart-eager)  # what the 2026-11-26 lease switched to after 9.5 min of compiling with no row (the probe had
    # measured 118 s for the forward graph alone, single-threaded): end every job, then DPS-1000 on all 4 GPUs
    # in eager fp32 (no --fast: 73 ms a call with its backward at 768×512, no compile) into nat-dps-fp32
    bash "$0" stop; cp benchmarks/results/*.sh "$W"/benchmarks/results/
    echo $(( $(date +%s) + 60 * ${2:-13} )) > "$W/deadline"
    cd "$W" && MODE="" setsid nohup bash benchmarks/results/run_gpu_issue20_compiled.sh dps-eager \
      > "$RES/dps-eager.log" 2>&1 < /dev/null &
    sleep 15; tail -n 3 "$RES/dps-eager.log"; stamp "restarted; deadline in $(left) s" ;;
  dps-eager)
    cd "$W"; stamp "DPS-1000 (eager fp32) on gpu8: blurs and ×4 SR"
    bench "$(left)" 0,1,2,3 "$SUITE" "$RES/nat-dps-fp32" --only dps --tasks "$FIRST" > "$RES/nat-dps-fp32.log" 2>&1
    bench "$(left)" 0,1,2,3 "$SUITE" "$RES/nat-dps-fp32" --only dps >> "$RES/nat-dps-fp32.log" 2>&1
    stamp "dps-eager done" ;;
  poll) poll_jobs "${2:-500}" "run_gpu_issue20_compiled.sh (probe|dps)" ;;
  stop)  # end every job now; run it as its own call (these patterns are in no caller's command line)
    stop_jobs "run_gpu_issue20_compiled.sh (probe|dps)" "benchmarks/speed/" ;;
  *) echo "usage: $0 stage4 [MINUTES] | stage2 [MINUTES] | stage-probe [MINUTES] | poll SECONDS | stop  (the jobs run detached)" >&2; exit 2 ;;
esac
