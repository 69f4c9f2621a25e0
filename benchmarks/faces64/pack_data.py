"""Pack a face folder as 64×64 JPEG (q95) files in one tar, small enough to travel to the GPU machine.

The working tree that travels to the device is capped at 64 MiB, so the 21,853 UTKFace crops
(200×200) are centre-cropped, resized to 64×64 (antialiased bicubic, as `invdiff train` does)
and re-encoded at quality 95 (≈2.5 kB each, ≈53 MiB for the train split). The held-out split
is packed separately; it is only used for the held-out denoising loss, never trained on.

    python benchmarks/faces64/pack_data.py ../shared/datasets/faces-utk/train .carry/faces64-train.tar.gz
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

from PIL import Image

from invdiff.training.data import list_images, load_square


def pack(src: Path, dst: Path, size: int = 64, quality: int = 95) -> int:
    files = list_images(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dst, "w:gz", compresslevel=6) as tar:
        for f in files:
            buf = io.BytesIO()
            Image.fromarray(load_square(f, size)).save(buf, format="JPEG", quality=quality)
            info = tarfile.TarInfo(name=f"{src.name}/{f.relative_to(src).with_suffix('.jpg')}")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    return len(files)


if __name__ == "__main__":
    n = pack(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"packed {n} images into {sys.argv[2]}")
