"""JPEG constants: the standard quantisation tables, their quality scaling, JFIF colour, the DCT.

The base tables are the example tables of ITU-T T.81 (JPEG) Annex K, Tables K.1 (luminance)
and K.2 (chrominance), in natural (row-major) order — the tables libjpeg and PIL use by default.
"""

from __future__ import annotations

import math

import torch

LUMA_BASE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)

CHROMA_BASE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
) + ((99,) * 8,) * 4

# JFIF (ITU-R BT.601 full range) RGB → YCbCr; Cb, Cr are offset by 128 on the 0..255 scale.
RGB_TO_YCBCR = (
    (0.299, 0.587, 0.114),
    (-0.168735892, -0.331264108, 0.5),
    (0.5, -0.418687589, -0.081312411),
)
YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136286, -0.714136286),
    (1.0, 1.772, 0.0),
)


def quality_scale(quality: int) -> int:
    """The IJG (libjpeg) percentage scaling: 5000/q below 50, 200 − 2q from 50 on."""
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def scaled_table(base: tuple[tuple[int, ...], ...], quality: int) -> torch.Tensor:
    """``clamp((base·scale + 50) // 100, 1, 255)`` as an 8×8 float64 tensor (baseline JPEG limit)."""
    t = torch.tensor(base, dtype=torch.int64)
    return ((t * quality_scale(quality) + 50) // 100).clamp(1, 255).to(torch.float64)


def dct_matrix(n: int = 8) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (rows = frequencies): ``c = D b Dᵀ`` for an n×n block ``b``.

    For n = 8 this equals the JPEG forward DCT with its ``C(0) = 1/√2`` normalisation.
    """
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d
