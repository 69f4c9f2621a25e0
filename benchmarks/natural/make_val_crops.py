"""Write centre crops of the natural pack's held-out ``val`` images as PNGs: a validation set for natural-image
settings (issue 16/20: tune on held-out training-distribution photos, never on Kodak24 or CBSD68).

    python3 benchmarks/natural/make_val_crops.py --pack .carry/natural-pack.tar --out /tmp/natval/natural-val \
        --size 160 --count 6
    INVDIFF_DATA=/tmp/natval invdiff bench configs/bench/natural-val.yaml --out runs/natural-val --device cpu

Images are taken in the pack's manifest order (the val split is every 50th image per folder, sorted), skipping
those smaller than the crop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.training.pack import read_pack


def val_centre_crops(pack: str | Path, size: int, count: int, min_side: int | None = None) -> list[tuple[int, np.ndarray]]:
    """(index in the val split, ``size``² centre crop) of the first ``count`` val images whose sides are at least
    ``min_side`` (default ``size``; a larger one keeps the same images for several sizes), in manifest order."""
    out = []
    for k, im in enumerate(read_pack(pack, "val")):
        h, w = im.shape[:2]
        if min(h, w) < (min_side or size):
            continue
        t, l = (h - size) // 2, (w - size) // 2
        out.append((k, np.array(im[t:t + size, l:l + size])))  # a writable copy
        if len(out) == count:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--count", type=int, default=6)
    args = ap.parse_args()
    crops = val_centre_crops(args.pack, args.size, args.count)
    if not crops:
        print(f"make_val_crops: error: no val image of {args.pack} is at least {args.size} px on each side.",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for k, crop in crops:
        Image.fromarray(crop).save(args.out / f"val{k:03d}.png")
    print(f"wrote {len(crops)} crops of {args.size}² to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
