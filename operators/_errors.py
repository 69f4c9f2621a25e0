"""The two exception types of the operators package (kept apart so noise.py and base.py share them)."""


class OperatorError(ValueError):
    """Bad input or bad parameters given to an operator; the message says how to fix it."""


class NotLinearError(TypeError):
    """Raised when a linear-only view (adjoint, SVD) is asked of a non-linear operator."""
