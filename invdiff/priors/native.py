"""invdiff's own prior format: ``NAME.safetensors`` (weights) + ``NAME.json`` (everything else).

The JSON states what a user needs to trust and use the weights::

    {"format": "invdiff-prior/1",
     "architecture": {"type": "adm-unet", ...UNetConfig fields...},
     "schedule": {"kind": "linear", "num_steps": 1000},
     "parameterization": "eps", "learn_sigma": false,
     "data_range": [-1, 1], "resolution": 64, "channels": 3,
     "training": {...}, "license": "...", "sha256": "<of the safetensors file>"}

Large files may be split as ``NAME-00001-of-00003.safetensors`` … (each under the device tool's
16 MiB transfer limit); :func:`read_weights` joins them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FORMAT = "invdiff-prior/1"


def sha256_of(paths: list[Path]) -> str:
    """sha256 over the bytes of ``paths`` in order (the shards of one weight file)."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def weight_files(json_path: Path) -> list[Path]:
    """The safetensors file(s) belonging to ``NAME.json``: ``NAME.safetensors`` or its shards."""
    stem = json_path.with_suffix("")
    single = stem.with_suffix(".safetensors")
    if single.exists():
        return [single]
    shards = sorted(stem.parent.glob(stem.name + "-*-of-*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no weights next to {json_path}: expected {single.name} or {stem.name}-00001-of-N.safetensors.")
    expected = int(shards[0].stem.rsplit("-of-", 1)[1])
    if len(shards) != expected:
        raise FileNotFoundError(f"{json_path.name} needs {expected} weight shards, found {len(shards)}.")
    return shards


def write_prior(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict, dtype: torch.dtype | None = None,
                shard_bytes: int | None = None) -> Path:
    """Write weights (+ shards) and the JSON; returns the JSON path. Writes are atomic per file."""
    json_path = Path(path).with_suffix(".json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.detach().to(dtype) if dtype and v.is_floating_point() else v.detach()).contiguous().cpu()
               for k, v in state_dict.items()}
    groups = _split(tensors, shard_bytes)
    stem = json_path.with_suffix("")
    for old in list(stem.parent.glob(stem.name + "-*-of-*.safetensors")) + [stem.with_suffix(".safetensors")]:
        old.unlink(missing_ok=True)
    if len(groups) == 1:
        paths = [stem.with_suffix(".safetensors")]
    else:
        paths = [stem.parent / f"{stem.name}-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    for group, p in zip(groups, paths):
        tmp = p.with_suffix(".tmp")
        save_file(group, str(tmp), metadata={"format": FORMAT})
        os.replace(tmp, p)
    meta = {**meta, "format": FORMAT, "sha256": sha256_of(paths)}
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
    return state, meta
