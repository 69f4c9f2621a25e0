#!/usr/bin/env bash
# The speed benchmark on the GPU machine (issue 9 and the priors issue's GPU check).
#   bash benchmarks/speed/run_gpu.sh ours 1      # our solvers + network floor at batch 1 (→ $OUT/solvers.json)
#   bash benchmarks/speed/run_gpu.sh ours 8      # the same at batch 8 (throughput)
#   bash benchmarks/speed/run_gpu.sh peers       # deepinv DPS / DDRM and diffusers RePaint (→ $OUT/peers.json)
#   bash benchmarks/speed/run_gpu.sh issue16     # issue 16 in one call: deepinv 0.5.0 DiffPIR-100 and ΠGDM-100
#        (→ $OUT/peers_issue16.json), then our DiffPIR-100 / DDNM-100 / ΠGDM-100 with the floor (→ $OUT/solvers_b1_issue16.json)
#   bash benchmarks/speed/run_gpu.sh natural768  # issue 20: the shipped prior `natural` at 768×512 (H×W 512×768),
#        DDRM-20, DPS-1000, RePaint 250/10/10 with floor, peak memory and agreement (→ $OUT/solvers_natural768.json,
#        with --compile none → solvers_natural768_nocompile.json); further arguments go to solvers.py (e.g.
#        --no-agreement); no carried files. Compiling both graphs at this shape took 720 s on an H200 (2026-11-26):
#        give it ≥ 15 min; without compile DPS-1000 alone takes 105 s
# The peers travel as wheels in .carry/peers-wheels (benchmarks/speed/peers-wheels.txt lists them); issue16 needs
# only deepinv's own two, in .carry/peers-wheels-deepinv (the image has the rest of what deepinv imports).
set -uo pipefail
out=${OUT:-out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/runs/inductor-cache}  # a lease script may share one
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
solvers() {  # NAME SOLVERS.PY-ARGS…: run solvers.py into $out/NAME.json and .log (warnings dropped from the log)
  local name=$1; shift
  python3 benchmarks/speed/solvers.py --out "$out/$name.d" "$@" 2>&1 | grep --line-buffered -v -i "warn" \
    | tee "$out/$name.log"
  cp "$out/$name.d/solvers.json" "$out/$name.json" && rm -r "${out:?}/$name.d"
}
case "${1:-ours}" in
  ours)
    batch=${2:-1}
    extra=(); [ "$batch" != 1 ] && extra=(--no-agreement --no-eager-floor)
    solvers "solvers_b$batch" --batches "$batch" "${extra[@]}" ;;
  peers)
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/peers-wheels/*.whl
    PYTHONPATH=/tmp/site python3 benchmarks/speed/peers.py --out "$out/peers.json" 2>&1 | tee "$out/peers.log" ;;
  issue16)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
      .carry/peers-wheels-deepinv/*.whl || exit 1
    PYTHONPATH=/tmp/site python3 benchmarks/speed/peers.py --methods diffpir,pigdm --repeats 3 \
      --out "$out/peers_issue16.json" 2>&1 | tee "$out/peers_issue16.log"
    solvers solvers_b1_issue16 --methods diffpir,ddnm,pigdm --batches 1 ;;
  natural768)
    name=solvers_natural768; [[ " ${*:2} " == *" --compile none "* ]] && name=${name}_nocompile
    solvers "$name" --prior natural --size 512x768 --methods ddrm,dps,repaint --batches 1 "${@:2}" ;;
  *) echo "usage: $0 ours [BATCH] | peers | issue16 | natural768 [SOLVERS.PY OPTIONS]" >&2; exit 2 ;;
esac
