"""Turn the speed benchmark's JSON files into one markdown table (benchmarks/results/speed/results.md).

    python3 benchmarks/speed/report.py benchmarks/results/speed

Reads ``solvers_b1.json`` (and ``solvers_b8.json`` if present) from ``solvers.py`` and ``peers.json``
from ``peers.py``; every number printed is read from those files. Methods timed in a later batch-1
run on the same kind of GPU (``solvers_b1_<method>.json``, e.g. ``solvers.py --methods sr3``) join the
solver table, with that run's own floor next to the first run's so the two machines can be compared.
Peers timed in a later call (``peers_<tag>.json``, e.g. issue 16's deepinv DiffPIR and ΠGDM, timed in
the same GPU call as ``solvers_b1_<tag>.json``) join the peer column for the methods ``peers.json`` lacks.
Issue 20's run of the shipped ``natural`` prior at 768×512 (``solvers_natural768.json``, from
``run_gpu.sh natural768``) adds its own section at the end, with each goal's met / not met computed
from the numbers; without that file the output is as before.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

PEER_NAMES = {"dps": "deepinv DPS", "ddrm": "deepinv DDRM", "repaint": "diffusers RePaint", "diffpir": "deepinv DiffPIR",
              "pigdm": "deepinv ΠGDM"}
GOALS_S = {"dps": 10.0, "repaint": 10.0, "ddrm": 0.1, "diffpir": 0.5, "ddnm": 0.4}
GOALS_SPEED_UP = {"diffpir": 4.0}  # issue 16: at least 4× faster than deepinv's DiffPIR in the same run
NATURAL_FILE = "solvers_natural768.json"
#: the same run without torch.compile (``run_gpu.sh natural768 --compile none``): its own section when present
NATURAL_NOCOMPILE_FILE = "solvers_natural768_nocompile.json"
#: issue 20 (natural prior, 768×512, one H100/H200, fast mode): s/image at most, for the settings named
NATURAL_GOALS_S = {"ddrm": ({"steps": 20}, 1.0), "dps": ({"steps": 1000}, 30.0),
                   "repaint": ({"steps": 250, "jump_length": 10, "resamples": 10}, 30.0)}
NATURAL_MAX_OVERHEAD = 1.2  # issue 20: each solver within 1.2× of its network calls' floor at that size


def _load(folder: Path, name: str) -> dict | None:
    path = folder / name
    return json.loads(path.read_text()) if path.is_file() else None


def floor_lines(b1: dict) -> list[str]:
    eager, fast = b1["floor_eager_fp32_b1"], b1["floor_fast_b1"]
    agree = b1.get("fast_vs_eager_fp32_b1", {})
    return [
        "## Network floor (ADM FFHQ preset, 256², batch 1, through `DiffusionPrior`)", "",
        "| mode | forward (ms) | forward + backward to the input (ms) |", "|---|---|---|",
        f"| eager fp32 | {eager['forward_ms']:.2f} | {eager['forward_backward_ms']:.2f} |",
        f"| bf16 + channels_last + compile(reduce-overhead) | {fast['forward_ms']:.2f} | {fast['forward_backward_ms']:.2f} |",
        "",
        (f"First calls at this shape (compiling both graphs; a warm inductor cache of an earlier run shortens it): "
         f"{fast['first_calls_s']:.0f} s. Fast vs eager fp32 at one "
         f"point: relative L2 of ε̂ {agree.get('eps_rel_l2', float('nan')):.2e}, of the input gradient "
         f"{agree.get('input_grad_rel_l2', float('nan')):.2e}."), "",
    ]


#: why the fast mode's peak column is not the solve's peak (README.md of the results folder has the numbers)
PEAK_NOTE = ("¹ `max_memory_allocated` after the warm-up: in the fast mode the CUDA graphs' activation pools, "
             "allocated while recording, are not in it (here about the weights alone), so this is not the solve's "
             "peak; newer runs also record `reserved_mib`, all the process holds.")


def solver_lines(b1: dict, peers: dict | None) -> list[str]:
    lines = ["## Solvers at batch 1 (fast mode) vs the peers, same GPU, same protocol", "",
             ("| method | NFE | ours s/image | peer | peer s/image | speed-up | goal s/image | ms / NFE | "
              "floor ms / call | overhead ratio | peak MiB ¹ | fast vs fp32 (PSNR dB, shortened) |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    peer_rows = (peers or {}).get("results", {})
    for r in (r for r in b1["runs"] if r["batch"] == 1):
        m = r["method"]
        p = peer_rows.get(m)
        peer_s = p["seconds_per_image"] if p else None
        agree = r.get("agreement")
        agree_txt = (f"{agree['psnr_fast_vs_eager_fp32_db']:.1f} ({_settings(agree['settings'])})" if agree else "–")
        lines.append(" | ".join([
            f"| {m} ({_settings(r['settings'])})", str(r["nfe"]), f"{r['seconds_per_image']:.3f}",
            f"{PEER_NAMES.get(m, '–')} {(p or {}).get('library', '').split()[-1] if p else ''}".strip(),
            f"{peer_s:.3f}" if peer_s else "–", f"{peer_s / r['seconds_per_image']:.1f}×" if peer_s else "–",
            _goal(m), f"{r['ms_per_nfe']:.2f}", f"{r['floor_ms_per_call']:.2f}",
            f"{r['overhead_ratio']:.2f}", f"{r['peak_mib']:.0f}", agree_txt]) + " |")
    lines += ["", PEAK_NOTE, ""]
    return lines


def _goal(m: str) -> str:
    goals = ([f"≤ {GOALS_S[m]:g}"] if m in GOALS_S else []) + (
        [f"≥ {GOALS_SPEED_UP[m]:g}× peer"] if m in GOALS_SPEED_UP else [])
    return ", ".join(goals) or "–"


def later_peers(folder: Path, peers: dict | None) -> tuple[dict, list[str]]:
    """Peer rows of ``peers_*.json`` for methods ``peers.json`` lacks, and a note per file (read from the JSON)."""
    have = set((peers or {}).get("results", {}))
    rows, notes = {}, []
    for path in sorted(folder.glob("peers_*.json")):
        later = json.loads(path.read_text())
        new = {m: r for m, r in later["results"].items() if m not in have and m not in rows}
        if not new:
            continue
        rows.update(new)
        v = later.get("versions", {})
        runs = "; ".join(
            f"{PEER_NAMES.get(m, m)} {r['config']['steps']} steps: {r['nfe']} network calls ({r['nfe_with_grad_to_input']} "
            f"with grad to the input), {r['ms_per_network_call']:.2f} ms / call, best of {len(r['seconds_runs'])} runs"
            + (f" — {r['sampler']}" if r.get("sampler") else "") for m, r in new.items())
        notes.append(f"peers {', '.join(new)}: timed in `{path.name}` ({later.get('gpu') or later.get('device')}, "
                     f"torch {v.get('torch')}, deepinv {v.get('deepinv')}; fp32 eager, as shipped): {runs}.")
    return rows, notes


def later_runs(folder: Path, b1: dict) -> tuple[list[dict], list[str]]:
    """Batch-1 rows of ``solvers_b1_*.json`` for methods the first run lacks, and a note per file."""
    have = {r["method"] for r in b1["runs"]}
    rows, notes = [], []
    for path in sorted(folder.glob("solvers_b1_*.json")):  # a file that adds no method (the cold-cache run) adds nothing
        later = json.loads(path.read_text())
        new = [r for r in later["runs"] if r["batch"] == 1 and r["method"] not in have]
        if not new:
            continue
        rows += new
        first, again = b1["floor_fast_b1"], later["floor_fast_b1"]
        notes.append(f"{', '.join(r['method'] for r in new)}: timed in a later run (`{path.name}`, {later['device']}, "
                     f"torch {later['torch']}, task {later['task']}), where the floor of the unconditional network "
                     f"was {again['forward_ms']:.2f} / {again['forward_backward_ms']:.2f} ms (forward / + backward; "
                     f"this table's run: {first['forward_ms']:.2f} / {first['forward_backward_ms']:.2f} ms); its "
                     "overhead ratio uses the floor of its own network in that run.")
    return rows, notes


def batch_lines(report: dict) -> list[str]:
    batch = report["runs"][0]["batch"]
    lines = [f"## Throughput at batch {batch} (fast mode)", "",
             "| method | NFE | s / batch | s / image | images / minute | ms / NFE | floor ms / call | overhead ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        lines.append(f"| {r['method']} | {r['nfe']} | {r['seconds_total']:.2f} | {r['seconds_per_image']:.3f} | "
                     f"{r['images_per_minute']:.1f} | {r['ms_per_nfe']:.2f} | {r['floor_ms_per_call']:.2f} | "
                     f"{r['overhead_ratio']:.2f} |")
    lines.append("")
    return lines


def natural_goal(row: dict) -> tuple[str, str]:
    """Issue 20's goal for one row and whether the row's numbers meet it: ``(goal text, "met" | "not met (…)")``.

    The overhead goal holds for every solver; the s/image goal only at the settings it names
    (DDRM-20, DPS-1000, RePaint 250/10/10), so a shortened run is judged on its overhead alone.
    """
    goals, missed = [f"overhead ≤ {NATURAL_MAX_OVERHEAD:g}"], []
    if row["overhead_ratio"] > NATURAL_MAX_OVERHEAD:
        missed.append("overhead")
    settings, seconds = NATURAL_GOALS_S.get(row["method"], (None, None))
    if seconds is not None and row["settings"] == settings:
        goals.insert(0, f"≤ {seconds:g} s/image")
        if row["seconds_per_image"] > seconds:
            missed.append("s/image")
    elif seconds is not None:
        goals[0] += f" (≤ {seconds:g} s/image is for {_settings(settings)}: not judged here)"
    return ", ".join(goals), "met" if not missed else f"not met ({', '.join(missed)})"


def _mib(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.0f}"


def _reserved(rows: list[dict]) -> float | None:
    """The largest ``reserved_mib`` of the rows (None where no row recorded it: older runs)."""
    values = [r["reserved_mib"] for r in rows if r.get("reserved_mib") is not None]
    return max(values) if values else None


def _peak_text(rows: list[dict]) -> str:
    """Peak memory as recorded. In the compiled fast mode ``peak_mib`` (allocated after the warm-up's reset) misses
    the CUDA graphs' private pools, so what the process reserved, pools included, is given beside it when recorded."""
    peak = _mib(max((r["peak_mib"] for r in rows), default=float("nan")))
    reserved = _reserved(rows)
    if reserved is None:
        return f"{peak} MiB"
    return (f"{peak} MiB allocated after the warm-up, {_mib(reserved)} MiB reserved (an upper bound that includes the "
            "CUDA graph pools, which the first number misses in the compiled mode)")


def natural_lines(report: dict, name: str = NATURAL_FILE) -> list[str]:
    """The section of a ``solvers_natural768*.json`` (``name``): floor, batch-1 rows and issue 20's goals (all read
    from the file)."""
    h, w = report["height"], report["width"]
    fast, eager = report["floor_fast_b1"], report.get("floor_eager_fp32_b1")
    agree = report.get("fast_vs_eager_fp32_b1", {})
    problem = report.get("problem", {})
    rows = [r for r in report["runs"] if r["batch"] == 1]
    compiled = report["fast_mode"].get("compile") not in (None, False, "none")
    label = "fast" if compiled else "fast without compile"
    lines = [f"## Prior `{report['prior']}` at {w}×{h} (issue 20; `{name}`)", "",
             (f"GPU: {report['device']}; torch {report['torch']}; prior `{report['prior']}` ({report['parameters']:,} "
              f"parameters, weights: {report['weights']}); image H×W = {h}×{w}, batch 1; task: box inpainting "
              f"({problem.get('mask', 'centred box')}), fraction missing {problem.get('fraction_missing', float('nan')):.2f}, "
              f"σ_y {problem.get('sigma_y', float('nan')):g}. Fast mode: {report['fast_mode']}. Network floor per call "
              f"(forward / forward + backward to the input): {label} {fast['forward_ms']:.2f} / "
              f"{fast['forward_backward_ms']:.2f} ms"
              + (f", eager fp32 {eager['forward_ms']:.2f} / {eager['forward_backward_ms']:.2f} ms" if eager else "")
              + f"; first calls at this shape ({'compiling both graphs' if compiled else 'nothing to compile'}): "
                f"{fast['first_calls_s']:.0f} s"
              + (f"; fast vs eager fp32 at one point: relative L2 of ε̂ {agree['eps_rel_l2']:.2e}, of the input "
                 f"gradient {agree['input_grad_rel_l2']:.2e}" if agree else "")
              + f". Peak GPU memory of the run: {_peak_text(rows)}."),
             "",
             ("| method | NFE | s / image | ms / NFE | floor ms / call | overhead ratio | "
              f"{'peak MiB (reserved)' if _reserved(rows) is not None else 'peak MiB'} | "
              "fast vs fp32 (PSNR dB, shortened) | goal (issue 20) | goal met |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r.get("agreement")
        goal, met = natural_goal(r)
        lines.append(" | ".join([
            f"| {r['method']} ({_settings(r['settings'])})", str(r["nfe"]), f"{r['seconds_per_image']:.3f}",
            f"{r['ms_per_nfe']:.2f}", f"{r['floor_ms_per_call']:.2f}", f"{r['overhead_ratio']:.2f}",
            _mib(r["peak_mib"]) + (f" ({_mib(r['reserved_mib'])})" if r.get("reserved_mib") is not None else ""),
            f"{a['psnr_fast_vs_eager_fp32_db']:.1f} ({_settings(a['settings'])})" if a else "–", goal, met]) + " |")
    lines.append("")
    return lines


def _settings(s: dict) -> str:
    if "jump_length" in s:
        return f"{s['steps']}/{s['jump_length']}/{s['resamples']}"
    return str(s["steps"])


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/speed")
    b1, b8, peers = _load(folder, "solvers_b1.json"), _load(folder, "solvers_b8.json"), _load(folder, "peers.json")
    if b1 is None:
        raise SystemExit(f"{folder}/solvers_b1.json is missing; run benchmarks/speed/run_gpu.sh ours 1 first.")
    versions = (peers or {}).get("versions", {})
    lines = ["# Speed at 256² (written by benchmarks/speed/report.py from the JSON files here)", "",
             (f"GPU: {b1['device']}; torch {b1['torch']}; peers: "
              + (", ".join(f"{k} {versions[k]}" for k in ("deepinv", "diffusers") if k in versions) or "not run")
              + f". Task: {b1['task']}; random-weight networks of the published architectures (ours and deepinv: "
              "ADM FFHQ, 93.6 M parameters; diffusers: DDPM-256 UNet2DModel). Fast mode: "
              f"{b1['fast_mode']}. Overhead ratio = s/image ÷ (NFE × floor per call in the same mode and batch, "
              "timed back to back); fast-vs-fp32 agreement: PSNR between the outputs of the two modes for the "
              "same seeds, at the shortened schedules in brackets."), ""]
    extra_rows, notes = later_runs(folder, b1)
    extra_peers, peer_notes = later_peers(folder, peers)
    notes += peer_notes
    if extra_peers:
        peers = {**(peers or {}), "results": {**(peers or {}).get("results", {}), **extra_peers}}
    lines += floor_lines(b1) + solver_lines({**b1, "runs": b1["runs"] + extra_rows}, peers)
    lines += [*(f"- {n}" for n in notes), ""] if notes else []
    if b8 is not None:
        lines += batch_lines(b8)
    for name in (NATURAL_FILE, NATURAL_NOCOMPILE_FILE):
        natural = _load(folder, name)
        if natural is not None:
            lines += natural_lines(natural, name)
    (folder / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
