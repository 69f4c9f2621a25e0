"""Make the natural-image training pack that travels to the GPU machine (issue 19).

Packs ``natural-train`` (3,168 photos at 256²) and ``natural-bsds/train`` (400 BSDS500 train+test
images, 481×321) at their own sizes as WebP, at the highest quality whose pack fits the budget,
holding out every 50th image per folder as the ``val`` split (see ``invdiff/training/pack.py``).
Never pack the evaluation sets (Kodak24, BSDS500 val ⊃ CBSD68, Set5, Set14): this script refuses.

    python3 benchmarks/natural/make_pack.py --data ../shared/datasets --out .carry/natural-pack.tar --budget-mib 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from invdiff.training.pack import write_pack

TRAIN_FOLDERS = ("natural-train", "natural-bsds/train")
EVALUATION_SETS = ("kodak24", "natural-bsds/val", "set5", "set14")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/datasets", help="the shared datasets folder")
    ap.add_argument("--out", default=".carry/natural-pack.tar")
    ap.add_argument("--budget-mib", type=float, default=50.0, help="the pack's size limit")
    ap.add_argument("--folders", nargs="*", default=list(TRAIN_FOLDERS), help="folders under --data to pack")
    args = ap.parse_args()
    banned = [f for f in args.folders if any(f.rstrip("/").startswith(e) for e in EVALUATION_SETS)]
    if banned:
        print(f"make_pack: error: {banned} are evaluation sets and are never trained on.", file=sys.stderr)
        return 2
    t0 = time.time()
    manifest = write_pack([Path(args.data) / f for f in args.folders], args.out, args.budget_mib,
                          progress=lambda m: print(m, flush=True))
    splits = {s: sum(e["split"] == s for e in manifest["images"]) for s in ("train", "val")}
    summary = {"out": args.out, "bytes": manifest["bytes"], "mib": round(manifest["bytes"] / 2**20, 2),
               "webp_quality": manifest["quality"], "images": splits, "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
