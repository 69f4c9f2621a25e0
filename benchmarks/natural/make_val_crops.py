"""Write centre crops of the natural pack's held-out ``val`` images as PNGs: a validation set for natural-image
settings (issue 16/20: tune on held-out training-distribution photos, never on Kodak24 or CBSD68).

    python3 benchmarks/natural/make_val_crops.py --pack .carry/natural-pack.tar --out /tmp/natval/natural-val \
        --size 160 --count 6
    INVDIFF_DATA=/tmp/natval invdiff bench configs/bench/natural-val.yaml --out runs/natural-val --device cpu

Images are taken in the pack's manifest order (the val split is every 50th image per folder, sorted), skipping
those smaller than the crop. ``--shape 256x384`` gives the non-square crops of issue 20's probe protocol (landscape
images 256×384, portrait ones 384×256; only BSDS's 481×321 val images are that large):

    python3 benchmarks/natural/make_val_crops.py --pack .carry/natural-pack.tar --out /tmp/natprobe/natural-probe \
        --shape 256x384 --count 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.training.pack import read_pack


def crop_shape(image_hw: tuple[int, int], size: int | tuple[int, int]) -> tuple[int, int]:
    """The crop for an image of ``image_hw``: ``size``² for an int; for ``(H, W)`` with H ≤ W, H×W on a landscape (or
    square) image and W×H on a portrait one, so the crop follows the photograph as the suite's native sizes do."""
    if isinstance(size, int):
        return size, size
    short, long = sorted(size)
    return (long, short) if image_hw[0] > image_hw[1] else (short, long)


def val_centre_crops(pack: str | Path, size: int | tuple[int, int], count: int,
                     min_side: int | None = None) -> list[tuple[int, np.ndarray]]:
    """(index in the val split, centre crop) of the first ``count`` val images the crop fits, in manifest order.

    ``size``: an int for a square crop (``min_side``, default ``size``: a larger one keeps the same images for several
    sizes), or ``(H, W)`` for a crop that follows each image's orientation (:func:`crop_shape`)."""
    out = []
    for k, im in enumerate(read_pack(pack, "val")):
        h, w = im.shape[:2]
        ch, cw = crop_shape((h, w), size)
        if h < max(ch, min_side or 0) or w < max(cw, min_side or 0):
            continue
        t, l = (h - ch) // 2, (w - cw) // 2
        out.append((k, np.array(im[t:t + ch, l:l + cw])))  # a writable copy
        if len(out) == count:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=160, help="a square crop of this side")
    ap.add_argument("--shape", default=None, help="HxW instead of --size: an H×W crop, W×H on portrait images")
    ap.add_argument("--count", type=int, default=6)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.shape.lower().split("x")) if args.shape else args.size
    crops = val_centre_crops(args.pack, size, args.count)
    if not crops:
        print(f"make_val_crops: error: no val image of {args.pack} fits a {args.shape or args.size} crop.",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for k, crop in crops:
        Image.fromarray(crop).save(args.out / f"val{k:03d}.png")
    print(f"wrote {len(crops)} crops of {args.shape or f'{args.size}²'} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
