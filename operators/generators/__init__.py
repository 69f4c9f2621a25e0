"""Random and file-based operator parameters: inpainting masks and blur kernels.

Kept apart from the operators: a generator makes a parameter (from an explicit
``torch.Generator`` or a file), an operator is then built with it as constructor state.
"""

from .kernels import (
    gaussian_kernel,
    load_kernel,
    load_kernels,
    motion_kernel,
    shake_trajectory,
    validate_kernel,
)
from .masks import (
    MASK_KINDS,
    alternating_lines_mask,
    box_mask,
    expand_mask,
    fill_fraction,
    free_form_mask,
    half_mask,
    invert_mask,
    irregular_mask,
    list_mask_files,
    load_mask_file,
    make_mask,
    mask_summary,
    narrow_mask,
    random_mask,
    super_resolve_mask,
    wide_mask,
)

__all__ = [
    "MASK_KINDS",
    "alternating_lines_mask",
    "box_mask",
    "expand_mask",
    "fill_fraction",
    "free_form_mask",
    "gaussian_kernel",
    "half_mask",
    "invert_mask",
    "irregular_mask",
    "list_mask_files",
    "load_kernel",
    "load_kernels",
    "load_mask_file",
    "make_mask",
    "mask_summary",
    "motion_kernel",
    "narrow_mask",
    "random_mask",
    "shake_trajectory",
    "super_resolve_mask",
    "validate_kernel",
    "wide_mask",
]
