"""shapelint: a static linter for transposed convolutions and skip connections in exported models.

The Python API (``shapelint.check``, ``shapelint.contract``, ``shapelint.explain``, ``shapelint.Report``) is in
``shapelint.api``; it is imported on first use, so ``import shapelint`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["ModelError", "Report", "UsageError", "__version__", "check", "contract", "explain"]


def __getattr__(name):
    if name in ("check", "contract", "explain", "Report", "ModelError", "UsageError"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'shapelint' has no attribute {name!r}")
