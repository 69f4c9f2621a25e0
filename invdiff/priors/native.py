"""invdiff's own prior format: ``NAME.safetensors`` (weights) + ``NAME.json`` (everything else).

The JSON states what a user needs to trust and use the weights::

    {"format": "invdiff-prior/1",
     "architecture": {"type": "adm-unet", ...UNetConfig fields...},
     "schedule": {"kind": "linear", "num_steps": 1000},
     "parameterization": "eps", "learn_sigma": false,
     "data_range": [-1, 1], "resolution": 64, "channels": 3,
     "training": {...}, "license": "...", "sha256": "<of the safetensors file>"}

Large files may be split as ``NAME-00001-of-00003.safetensors`` … (each under the device tool's
16 MiB transfer limit); :func:`read_prior` joins them.

``"weights_encoding": "int8-per-channel"`` in the JSON marks weights stored as symmetric int8 with
one float32 scale per output channel (``KEY`` holds the int8 values, ``KEY#scale`` the scales;
biases and other 1-D tensors stay as written). It halves an fp16 file, which keeps the repository
small enough to travel to a GPU machine; :func:`read_prior` returns the dequantised float32
weights, and every number reported for such a prior is measured with exactly those weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FORMAT = "invdiff-prior/1"
INT8 = "int8-per-channel"
SCALE_SUFFIX = "#scale"


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per output channel (dim 0): ``w ≈ q · scale``, |error| ≤ scale / 2."""
    amax = w.detach().float().abs().flatten(1).amax(dim=1)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    q = (w.float() / scale.view(-1, *[1] * (w.dim() - 1))).round().clamp(-127, 127).to(torch.int8)
    return q, scale


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale.float().view(-1, *[1] * (q.dim() - 1))


def edge_layers(keys) -> tuple[str, ...]:
    """Key prefixes of an ADM U-Net's first input block and last output block (pixel-level layers).

    Measured on faces64 (48 validation faces, x̂₀ MSE at t = 900, ``benchmarks/quantize/faces64.json``):
    int8 everywhere +3.4 %, these two kept in float16 +1.3 % — the 3-channel input convolution shares
    one scale over only 27 weights per output channel, and the last block writes the output directly.
    They hold < 1 % of the weights.
    """
    last = max((int(k.split(".")[1]) for k in keys if k.startswith("output_blocks.")), default=None)
    return ("input_blocks.0.",) + ((f"output_blocks.{last}.",) if last is not None else ())


#: How a prior written with ``encoding=INT8, keep_float=shipped_float16(...)`` is stored, for its card's record.
SHIPPED_INT8 = "int8 per output channel (edge layers and out. in float16)"


def shipped_float16(keys) -> tuple[str, ...]:
    """Key prefixes a shipped int8 prior keeps in float16: :func:`edge_layers` and the output convolution ``out.``.

    Measured on ``natural`` after its second training run (24 Kodak 128² crops, ``benchmarks/quantize/natural.json``):
    with ``out.`` in int8 the x̂₀ MSE rose +2.5 % at t = 900 against the bfloat16 weights; in float16, −1.0 %.
    """
    return edge_layers(keys) + ("out.",)


def _encode(tensors: dict[str, torch.Tensor], keep_float: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """int8-per-channel encoding of every floating tensor with ≥ 2 dims, except those under ``keep_float``
    (stored as float16)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        if v.is_floating_point() and k.startswith(keep_float):
            out[k] = v.to(torch.float16)
        elif v.is_floating_point() and v.dim() >= 2:
            out[k], out[k + SCALE_SUFFIX] = quantize_int8(v)
        else:
            out[k] = v
    return out


def _decode(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    scales = {k[: -len(SCALE_SUFFIX)]: v for k, v in state.items() if k.endswith(SCALE_SUFFIX)}
    return {k: dequantize_int8(v, scales[k]) if k in scales else v
            for k, v in state.items() if not k.endswith(SCALE_SUFFIX)}


def sha256_of(paths: list[Path]) -> str:
    """sha256 over the bytes of ``paths`` in order (the shards of one weight file)."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _shards(stem: Path) -> list[Path]:
    """``STEM-00001-of-0000N.safetensors`` … exactly (not the shards of ``STEM-other``), sorted."""
    pattern = re.compile(re.escape(stem.name) + r"-\d{5}-of-\d{5}\.safetensors")
    return sorted(p for p in stem.parent.glob(stem.name + "-*.safetensors") if pattern.fullmatch(p.name))


def weight_files(json_path: Path) -> list[Path]:
    """The safetensors file(s) belonging to ``NAME.json``: ``NAME.safetensors`` or its shards."""
    stem = json_path.with_suffix("")
    single = stem.with_suffix(".safetensors")
    if single.exists():
        return [single]
    shards = _shards(stem)
    if not shards:
        raise FileNotFoundError(f"no weights next to {json_path}: expected {single.name} or {stem.name}-00001-of-N.safetensors.")
    expected = int(shards[0].stem.rsplit("-of-", 1)[1])
    if len(shards) != expected:
        raise FileNotFoundError(f"{json_path.name} needs {expected} weight shards, found {len(shards)}.")
    return shards


def write_prior(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict, dtype: torch.dtype | None = None,
                shard_bytes: int | None = None, encoding: str | None = None,
                keep_float: tuple[str, ...] = ()) -> Path:
    """Write weights (+ shards) and the JSON; returns the JSON path. Writes are atomic per file.

    ``dtype`` casts floating tensors (e.g. fp16); ``encoding="int8-per-channel"`` stores matrices
    and convolution kernels as int8 with per-channel scales (module docstring), except the tensors whose
    keys start with one of ``keep_float`` (stored as float16; see :func:`edge_layers`).
    """
    if encoding not in (None, INT8):
        raise ValueError(f"unknown weights encoding {encoding!r}; use None or {INT8!r}.")
    json_path = Path(path).with_suffix(".json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.detach().to(dtype) if dtype and v.is_floating_point() else v.detach()).contiguous().cpu()
               for k, v in state_dict.items()}
    if encoding == INT8:
        tensors = _encode(tensors, tuple(keep_float))
    groups = _split(tensors, shard_bytes)
    stem = json_path.with_suffix("")
    for old in [*_shards(stem), stem.with_suffix(".safetensors")]:
        old.unlink(missing_ok=True)
    if len(groups) == 1:
        paths = [stem.with_suffix(".safetensors")]
    else:
        paths = [stem.parent / f"{stem.name}-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    for group, p in zip(groups, paths):
        tmp = p.with_suffix(".tmp")
        save_file(group, str(tmp), metadata={"format": FORMAT})
        os.replace(tmp, p)
    meta = {k: v for k, v in meta.items() if k != "weights_encoding"}
    meta = {k: v for k, v in meta.items() if k != "float16_layers"}
    meta = {**meta, "format": FORMAT, "sha256": sha256_of(paths), **({"weights_encoding": encoding} if encoding else {}),
            **({"float16_layers": list(keep_float)} if encoding and keep_float else {})}
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, json_path)
    return json_path


def _split(tensors: dict[str, torch.Tensor], shard_bytes: int | None) -> list[dict[str, torch.Tensor]]:
    if not shard_bytes:
        return [tensors]
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in tensors.items():
        nbytes = v.numel() * v.element_size()
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append({})
            size = 0
        groups[-1][k] = v
        size += nbytes
    return groups


def read_prior(json_path: str | Path, verify_hash: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``NAME.json`` and its weights; checks the format tag and (optionally) the sha256."""
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not an invdiff prior (format {meta.get('format')!r}, expected {FORMAT!r}).")
    paths = weight_files(json_path)
    if verify_hash and meta.get("sha256") and sha256_of(paths) != meta["sha256"]:
        raise ValueError(f"weights of {json_path.name} do not match the sha256 in its JSON; the files are corrupt or mixed.")
    state: dict[str, torch.Tensor] = {}
    for p in paths:
        state.update(load_file(str(p)))
    encoding = meta.get("weights_encoding")
    if encoding not in (None, INT8):
        raise ValueError(f"{json_path.name} uses weights encoding {encoding!r}, which this invdiff cannot read.")
    return (_decode(state) if encoding == INT8 else state), meta
