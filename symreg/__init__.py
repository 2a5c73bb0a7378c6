"""symreg: discover closed-form equations from data."""

from .expression import Expression

__version__ = "0.1.0"
__all__ = ["Expression", "__version__"]
