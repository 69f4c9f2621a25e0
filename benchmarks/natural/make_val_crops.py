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

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.training.pack import read_pack


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--count", type=int, default=6)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for k, im in enumerate(read_pack(args.pack, "val")):
        h, w = im.shape[:2]
        if min(h, w) < args.size:
            continue
        t, l = (h - args.size) // 2, (w - args.size) // 2
        Image.fromarray(im[t:t + args.size, l:l + args.size]).save(args.out / f"val{k:03d}.png")
        written += 1
        if written == args.count:
            break
    print(f"wrote {written} crops of {args.size}² to {args.out}")
    return 0 if written else 2


if __name__ == "__main__":
    raise SystemExit(main())
