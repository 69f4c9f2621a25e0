#!/usr/bin/env bash
# Issue 20, seventh session: the natural suite's rows of the solvers that run on the GPU in minutes, with the candidate
# prior `r3` (benchmarks/natural/run_arms_lease.sh's `r3`: the shipped weights continued on 128² crops, lr annealed
# to 0) installed as `natural` in the tree that travels (benchmarks/natural/ship_run.py; put the shipped weights back
# with `git checkout invdiff/weights/` after the call). DDRM on all 92 images first, then DDNM+, DiffPIR and ΠGDM on
# `gpu8`, in the mode the committed rows ran in (--fast --no-compile), 4 GPUs under torchrun, each run time-boxed to
# the call's deadline. DPS (≈ 5,400 GPU-seconds) and RePaint (≈ 1,200) did not fit the session's remaining device time.
#
#   one call (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels; the tree without the face
#   priors and figures: python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu_issue20_s7.sh SECONDS
#   back here: cat res.tgz.part-* | tar xzf - (rows; the grids' centre cells in cells.tar.part-*).
# What happened (2026-11-26, seventh session, 4 × H100, SECONDS = 320): DDRM 460 of 460 rows; the few-step run was cut
#   at 152 rows (box, random and most Gaussian blur complete). The rows are in benchmarks/results/natural-r3-candidate/,
#   apart from the shipped prior's table (join_runs.py refuses another prior's rows).
# CPU smoke: SMOKE="--device cpu --limit 1 --prior PATH" W=/tmp/smoke7 bash … 120 (in a copy of the tree, with small
#   copies of the evaluation images in W/.carry/natural-eval)
set -uo pipefail
W=${W:-$PWD}; RES=${RES:-$W/res7}; SMOKE=${SMOKE:-}; MODE="--fast --no-compile"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
. "$(dirname "$0")/lease_lib.sh"  # stamp, left, boxed, rows, bench, pack_results
[ -n "$SMOKE" ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl
mkdir -p "$RES" && echo $(( $(date +%s) + ${1:-300} )) > "$W/deadline"
GPUS=${GPUS:-0,1,2,3}
bench "$(boxed 600)" "$GPUS" configs/bench/natural.yaml "$RES/nat-ddrm" --only ddrm
bench "$(boxed 600)" "$GPUS" configs/bench/natural.yaml "$RES/nat-fewstep" --only 'ddnm,diffpir,pigdm'
pack_results
