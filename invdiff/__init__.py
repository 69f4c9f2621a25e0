"""invdiff: imaging inverse problems with diffusion priors."""

from __future__ import annotations

__version__ = "0.1.0"

#: Names resolved on first use, so that ``import invdiff`` stays light (no torch import).
_LAZY = {"load_prior": "invdiff.priors", "available_priors": "invdiff.priors",
         "solve": "invdiff.api", "fit_to_prior": "invdiff.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'invdiff' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
