"""Diffusion priors: the ADM U-Net, noise schedules, and the :class:`DiffusionPrior` solvers use.

``load_prior(name_or_path, ...)`` is the one entry point for every checkpoint format;
``available_priors()`` lists the built-in ones. Conditional (SR3-style) priors load
as :class:`ConditionalPrior` (:mod:`invdiff.priors.conditional`).
"""

from .adapters import PARAMETERIZATIONS
from .conditional import ConditionalPrior, ConditioningError, SRConditioning, is_conditional
from .fast import SpeedConfig
from .guided_diffusion import ArchitectureError, infer_architecture
from .prior import CallLimitReached, DiffusionPrior, Prediction
from .registry import BUILTIN_PRIORS, PriorInfo, available_priors, load_prior, save_prior
from .schedule import NoiseSchedule
from .tiling import ImageSizeError, TileConfig
from .unet import PRESETS, ADMUNet, CheckpointMismatchError, UNetConfig, preset

__all__ = [
    "BUILTIN_PRIORS",
    "PARAMETERIZATIONS",
    "PRESETS",
    "ADMUNet",
    "ArchitectureError",
    "CallLimitReached",
    "CheckpointMismatchError",
    "ConditionalPrior",
    "ConditioningError",
    "DiffusionPrior",
    "ImageSizeError",
    "NoiseSchedule",
    "Prediction",
    "PriorInfo",
    "SRConditioning",
    "SpeedConfig",
    "TileConfig",
    "UNetConfig",
    "available_priors",
    "infer_architecture",
    "is_conditional",
    "load_prior",
    "preset",
    "save_prior",
]
