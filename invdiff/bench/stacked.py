"""Per-image operators seen as one batched operator, so that per-image kernels can be solved in one batch.

With motion blur every image has its own kernel, and ``operators.MotionBlur`` holds one. Solving
such images one by one runs the network at batch 1, which on a GPU costs nearly as much per image
as a whole batch. :class:`ImageWise` stacks ``N`` single-image operators: row ``i`` of every batch
goes through operator ``i``, for ``A``, ``Aᵀ``, ``A⁺`` and the SVD view (its singular values are
``N×k``, one row per image, as the operator contract allows). Only the batch axis is split, so each
row gives what its own operator gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from operators import OperatorError


class ImageWise:
    """``N`` operators of one kind acting row by row on ``N×…`` batches (see the module docstring)."""

    def __init__(self, ops: Sequence) -> None:
        ops = list(ops)
        if not ops or any(type(op) is not type(ops[0]) for op in ops):
            raise OperatorError("ImageWise needs one or more operators of the same class.")
        first = ops[0]
        self.ops = ops
        self.name, self.linear, self.noise, self.channels = first.name, first.linear, first.noise, first.channels

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def has_svd(self) -> bool:
        return all(op.has_svd for op in self.ops)

    @property
    def differentiable(self) -> bool:
        return all(op.differentiable for op in self.ops)

    @property
    def projectable(self) -> bool:
        return all(op.projectable for op in self.ops)

    def apply_differentiable(self, x: torch.Tensor) -> torch.Tensor:
        return self._each("apply_differentiable", x)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([op.project(xi, yi) for op, xi, yi in zip(self.ops, self._rows(x, "x"), self._rows(y, "y"))])

    def _rows(self, t: torch.Tensor, name: str) -> tuple[torch.Tensor, ...]:
        if t.shape[0] != len(self.ops):
            raise OperatorError(f"{name} has batch {t.shape[0]} but this stack holds {len(self.ops)} per-image "
                                f"operators; pass exactly one row per operator.")
        return t.split(1)

    def _each(self, method: str, t: torch.Tensor, *args) -> torch.Tensor:
        return torch.cat([getattr(op, method)(row, *args) for op, row in zip(self.ops, self._rows(t, method))])

    @staticmethod
    def _one(shape: Sequence[int]) -> tuple[int, ...]:
        """The single-image form of an image shape given as (N, C, H, W) or (C, H, W)."""
        shape = tuple(int(s) for s in shape)
        return (1, *shape[-3:])

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return self._each("apply", x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._each("adjoint", y)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self._each("pinv", y)

    def measure(self, x: torch.Tensor, generator: Sequence[torch.Generator]) -> torch.Tensor:
        """Noisy rows, row ``i`` with ``generator[i]`` (one generator per image is required)."""
        gens = list(generator)
        rows = self._rows(x, "x")
        if len(gens) != len(rows):
            raise OperatorError(f"got {len(gens)} generators for {len(rows)} images; pass one per image.")
        return torch.cat([op.measure(row, g) for op, row, g in zip(self.ops, rows, gens)])

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return (int(input_shape[0]), *self.ops[0].output_shape(self._one(input_shape))[1:])

    def input_shape_for(self, y: torch.Tensor) -> tuple[int, ...]:
        return (y.shape[0], *self.ops[0].input_shape_for(y[:1])[1:])

    # -- SVD view: coefficients are per row, so rows map independently ---------------------------
    def V_t(self, x: torch.Tensor) -> torch.Tensor:
        return self._each("V_t", x)

    def U_t(self, y: torch.Tensor) -> torch.Tensor:
        return self._each("U_t", y)

    def V(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return self._each("V", z, self._one(shape))

    def U(self, z: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return self._each("U", z, self._one(shape))

    def singulars(self, like: torch.Tensor) -> torch.Tensor:
        return self._each("singulars", like)

    def singulars_for(self, shape: Sequence[int], device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``N×k``: row ``i`` holds operator ``i``'s singular values."""
        return torch.cat([op.singulars_for(self._one(shape), device, dtype) for op in self.ops])

    def to(self, *args, **kwargs) -> ImageWise:
        """Move every operator's parameters (as ``nn.Module.to``); returns ``self``."""
        self.ops = [op.to(*args, **kwargs) for op in self.ops]
        return self

    def __repr__(self) -> str:
        return f"ImageWise({len(self.ops)} × {type(self.ops[0]).__name__})"
