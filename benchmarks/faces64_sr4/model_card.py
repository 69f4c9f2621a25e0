"""Write the model card of the `faces64-sr4` SR3 prior from what the training run and the benchmark recorded.

Every number in the card is read from a file — the exported JSON (architecture, conditioning,
training record, sha256), the shards next to it, the run's ``log.jsonl`` (last held-out
denoising losses) and, when given, a benchmark ``results.csv`` (the ×4 SR rows). What no file
states is written as a visible ``TO FILL`` marker, never guessed.

    python benchmarks/faces64_sr4/model_card.py invdiff/weights/faces64-sr4.json \\
        --log benchmarks/faces64_sr4/train_log.jsonl \\
        --results benchmarks/results/faces64/results.csv --out invdiff/weights/faces64-sr4.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root holds invdiff/
from invdiff.priors.native import weight_files
from invdiff.priors.unet import ADMUNet, UNetConfig

TO_FILL = "**TO FILL**"
#: the ×4 SR rows of a faces64 benchmark, in table order
SR_ROWS = ("bicubic", "ddrm", "dps", "repaint", "sr3-100", "sr3")


def parameter_count(arch: dict) -> tuple[int, int]:
    """(parameters, tensors) of the JSON's architecture, built on the meta device."""
    config = UNetConfig.from_dict({k: v for k, v in arch.items() if k != "type"})
    with torch.device("meta"):
        state = ADMUNet(config).state_dict()
    return sum(v.numel() for v in state.values()), len(state)


def last_heldout(log: Path | None) -> tuple[int, dict] | None:
    if log is None or not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    held = [r for r in rows if "heldout" in r]
    return (held[-1]["step"], held[-1]["heldout"]) if held else None


def sr_results(path: Path | None, task: str = "sr4") -> list[dict]:
    if path is None or not path.is_file():
        return []
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["task"] == task]
    order = {m: i for i, m in enumerate(SR_ROWS)}
    return sorted(rows, key=lambda r: order.get(r["method"], len(order)))


def _num(value: str, digits: int) -> str:
    return f"{float(value):.{digits}f}" if value not in ("", None) else "n/a"


def _storage(meta: dict, tr: dict) -> str:
    """How the shipped weights are stored, from the JSON (int8 re-encoding recorded by quantize.py)."""
    if meta.get("weights_encoding") == "int8-per-channel":
        return ("EMA weights exported as float16, then re-encoded as int8 with one float32 scale per output "
                "channel (biases and norms float16; `benchmarks/faces64_sr4/quantize.py`)")
    return tr.get("weights", TO_FILL)


def _quantization_evidence(json_path: Path) -> list[str]:
    """The int8-vs-fp16 comparison written by quantize.py, if this prior was re-encoded."""
    report = Path(__file__).with_name("quantization.json")
    meta = json.loads(json_path.read_text())
    if meta.get("weights_encoding") != "int8-per-channel":
        return []
    if not report.is_file():
        return [f"int8 vs float16: {TO_FILL} (run benchmarks/faces64_sr4/quantize.py).", ""]
    q = json.loads(report.read_text())
    sr3 = next(v for k, v in q.items() if k.startswith("sr3_"))
    steps = next(k for k in q if k.startswith("sr3_")).split("_")[1]
    x0 = ", ".join(f"{float(v):.1f} dB (t = {t})" for t, v in q["x0_psnr_fp16_vs_int8_db"].items())
    return [(f"int8 vs the float16 export (`quantization.json`, {q['images']} held-out faces, CPU): "
             f"{q['bytes']['fp16'] / 1e6:.1f} MB → {q['bytes']['int8'] / 1e6:.1f} MB; x̂₀ agreement (PSNR on "
             f"[-1, 1]) {x0}; SR3-{steps} with the same seeds: {sr3['psnr_fp16_vs_truth']:.2f} dB (float16) vs "
             f"{sr3['psnr_int8_vs_truth']:.2f} dB (int8) against the truth, {sr3['psnr_fp16_vs_int8']:.1f} dB "
             "between the two. Every benchmark number below was measured with the int8 weights."), ""]


def card(json_path: Path, log: Path | None = None, results: Path | None = None) -> str:
    meta = json.loads(json_path.read_text())
    arch, tr, cond = meta["architecture"], meta.get("training", {}), meta.get("conditioning")
    if not cond:
        raise SystemExit(f"{json_path} has no 'conditioning': it is not an SR3 prior.")
    params, tensors = parameter_count(arch)
    shards = weight_files(json_path)
    size_mb = sum(p.stat().st_size for p in shards) / 1e6
    res = meta["resolution"]
    lr_side = res // cond["factor"]
    init = (f"initialised from `{tr['init_from']}` (sha256 {str(tr.get('init_sha256'))[:16]}…), the condition's "
            "input channels starting at zero" if tr.get("init_from") else "random initialisation")
    images_seen, steps = tr.get("images_seen"), tr.get("steps")
    lines = [
        f"# Model card: `{meta.get('name', json_path.stem)}`",
        "",
        (f"An SR3-style (Saharia et al. 2021) conditional ε-prediction diffusion model of {res}×{res} RGB faces given a "
         f"{lr_side}×{lr_side} low-resolution image, trained by this project. The network sees x_t and the "
         f"{cond['upsampling']}-upsampled measurement concatenated ({arch['in_channels']} input channels). It is "
         f"used by `invdiff solve --task {cond['task']} --method sr3` (its default prior) and loaded with "
         f"`invdiff.load_prior(\"{meta.get('name', json_path.stem)}\")`; the other solvers refuse it."),
        "",
        "| | |",
        "|---|---|",
        (f"| architecture | ADM U-Net, {arch['model_channels']} base channels, channel_mult {tuple(arch['channel_mult'])}, "
         f"{arch['num_res_blocks']} res-blocks per level, attention at {tuple(arch['attention_resolutions'])} px "
         f"({arch['num_head_channels']} channels/head), {arch['in_channels']} → {arch['out_channels']} channels; "
         f"{params:,} parameters, {tensors} tensors |"),
        (f"| conditioning | y = the `{cond['task']}` task's operator (×{cond['factor']} antialiased {cond['kernel']}, "
         f"invdiff/tasks.py) on the [-1, 1] image + N(0, σ²), σ ~ U[0, {cond['sigma_max']:g}] per pair (σ on [-1, 1]); "
         f"c = {cond['upsampling']} ×{cond['factor']} upsampling of y (`invdiff.priors.conditional`) |"),
        (f"| schedule | {meta['schedule']['kind']} β, T = {meta['schedule']['num_steps']}, "
         f"{meta['parameterization']}-prediction, fixed variance, data on [-1, 1] |"),
        (f"| weights | {_storage(meta, tr)} (EMA decay {tr.get('ema_decay', TO_FILL)}), {len(shards)} "
         f"safetensors shard(s), {size_mb:.1f} MB, sha256 `{meta.get('sha256', TO_FILL)}` |"),
        (f"| training data | {tr.get('data', TO_FILL)}; random horizontal flips; LR images made on the fly. The "
         "`faces-utk/heldout` images were never trained on. |"),
        (f"| training | {steps:,} AdamW steps, batch {tr.get('batch_size')}, lr {tr.get('lr')}, {init}; "
         f"{images_seen:,} (LR, HR) pairs seen; {tr.get('train_seconds')} s of training on {tr.get('device')} |"
         if steps is not None and images_seen is not None else f"| training | {TO_FILL} |"),
        f"| terms | {meta.get('license') or TO_FILL} |",
        "| reproduce | `bash benchmarks/faces64_sr4/launch_train.sh 480` on the GPU (see `benchmarks/faces64_sr4/`) |",
        "",
        "## Evidence",
        "",
    ]
    held = last_heldout(log)
    if held:
        step, h = held
        lines += [(f"Held-out conditional denoising at step {step:,} (`log.jsonl`; up to 256 held-out faces, LR at "
                   "σ_y = 0.05, fixed noise): MSE of the clipped x̂₀."), "",
                  "| t | MSE x̂₀ on [0, 1] | PSNR x̂₀ (dB) |", "|---|---|---|"]
        for key in sorted((k for k in h if k.startswith("x0_mse_t")), key=lambda k: int(k.split("_t")[1])):
            mse01 = h[key] / 4  # [-1, 1] → [0, 1]
            lines.append(f"| {key.split('_t')[1]} | {mse01:.5f} | {10 * math.log10(1 / mse01):.2f} |")
        lines.append("")
    else:
        lines += [f"Held-out denoising: {TO_FILL} (pass --log RUN/log.jsonl).", ""]
    grid = "`benchmarks/faces64_sr4/samples_final.png`" + ("" if log else f" {TO_FILL}")
    lines += [f"Sample grid (upsampled noisy LR | SR3 sample | HR, 100-step sampler): {grid}", ""]
    lines += _quantization_evidence(json_path)
    rows = sr_results(results)
    if rows:
        lines += [(f"×{cond['factor']} SR on the benchmark's held-out faces (`{results}`; PSNR dB / SSIM / LPIPS, "
                   "mean ± 95 % interval; the device and batch behind each row's seconds are in the per-image "
                   "rows next to that file):"), "",
                  "| method | n | PSNR | SSIM | LPIPS | NFE | s / image |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            cells = [r["method"], r["n"], f"{_num(r['psnr_mean'], 2)} ± {_num(r['psnr_ci95'], 2)}",
                     f"{_num(r['ssim_mean'], 3)} ± {_num(r['ssim_ci95'], 3)}", _num(r["lpips_mean"], 3),
                     _num(r["nfe"], 0), _num(r["seconds_per_image"], 3)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    else:
        lines += [(f"×{cond['factor']} SR benchmark vs bicubic / DDRM / DPS: {TO_FILL} (pass --results "
                   "benchmarks/results/faces64/results.csv after `invdiff bench configs/bench/faces64.yaml`)."), ""]
    lines += ["## Limits", "",
              (f"{res}×{res} output from {lr_side}×{lr_side} input only, for ×{cond['factor']} {cond['kernel']} "
               f"downsampling with Gaussian noise up to σ_y = {cond['sigma_max']:g} (the solver refuses more); faces "
               "framed like UTKFace's crops. SR3 samples a plausible face consistent with the LR image: detail "
               "beyond the LR information is the model's guess."), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", type=Path, help="the exported prior JSON (its shards next to it)")
    ap.add_argument("--log", type=Path, default=None, help="the run's log.jsonl")
    ap.add_argument("--results", type=Path, default=None, help="a benchmark results.csv with an sr4 task")
    ap.add_argument("--out", type=Path, default=None, help="where to write the card (default: JSON's .md)")
    args = ap.parse_args()
    out = args.out or args.json.with_suffix(".md")
    out.write_text(card(args.json, args.log, args.results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
