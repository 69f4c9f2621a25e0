"""Cases for the operator conformance suite, as fixtures (``case``, ``op``, ``chw``).

Every name in ``operators.available()`` joins automatically through its registry example; a few
extra variants (other boundaries, methods, kernels, factors) join the same checks. Needs
``tests/__init__.py`` beside ``tests/operators/__init__.py`` so that this folder is imported as
``tests.operators`` and not as the ``operators`` package under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch

import operators
from operators import GaussianBlur, Inpainting, Operator, OperatorError, SuperResolution, registry

Factory = Callable[[Sequence[int], torch.Generator], Operator]

BATCH = 2

VARIANTS: dict[str, tuple[Factory, tuple[tuple[int, int, int], ...]]] = {
    "gaussian_blur[fft]": (lambda s, g: GaussianBlur(1.0, 5, method="fft", channels=s[1]), ((3, 7, 9), (1, 6, 5))),
    "gaussian_blur[circular]": (lambda s, g: GaussianBlur(1.5, 5, boundary="circular", channels=s[1]),
                                ((3, 7, 9),)),
    "gaussian_blur[zero]": (lambda s, g: GaussianBlur(1.0, 3, boundary="zero", channels=s[1]), ((2, 5, 8),)),
    "gaussian_blur[symmetric]": (lambda s, g: GaussianBlur(1.0, 3, boundary="symmetric", channels=None),
                                 ((2, 6, 7),)),
    "sr4[average]": (lambda s, g: SuperResolution(4, "average", channels=s[1]), ((3, 12, 20), (1, 8, 4))),
    "sr3[bicubic]": (lambda s, g: SuperResolution(3, "bicubic", channels=s[1]), ((3, 9, 15), (1, 6, 3))),
    "sr2[average]": (lambda s, g: SuperResolution(2, "average", channels=None), ((2, 6, 10),)),
    "inpaint[CxHxW mask]": (lambda s, g: Inpainting((torch.rand(s[1:], generator=g) < 0.3).float(),
                                                    channels=s[1]), ((3, 5, 7),)),
}


def _registered(name: str) -> Factory:
    return lambda shape, g: registry.example(name, shape, g)


def _cases() -> list:
    cases = []
    for name in operators.available():
        for shape in registry.example_shapes(name):
            cases.append(pytest.param((_registered(name), shape), id=f"{name}-{'x'.join(map(str, shape))}"))
    for name, (factory, shapes) in VARIANTS.items():
        for shape in shapes:
            cases.append(pytest.param((factory, shape), id=f"{name}-{'x'.join(map(str, shape))}"))
    return cases


CASES = _cases()


@pytest.fixture(params=CASES)
def case(request) -> tuple[Factory, tuple[int, int, int]]:
    """``(factory, (C, H, W))`` of one conformance case."""
    return request.param


@pytest.fixture
def chw(case) -> tuple[int, int, int]:
    return case[1]


@pytest.fixture
def op(case) -> Operator:
    """The case's operator; skipped (saying why) only when its module has not been written yet."""
    factory, chw = case
    try:
        return factory((BATCH, *chw), torch.Generator().manual_seed(1))
    except OperatorError as e:
        if "does not exist yet" in str(e):
            pytest.skip(str(e))
        raise


@pytest.fixture
def linear_op(op) -> Operator:
    """The case's operator, skipping the non-linear ones (no adjoint or SVD to check)."""
    if not op.linear:
        pytest.skip(f"{type(op).__name__} is not linear: no adjoint or SVD to check")
    return op
