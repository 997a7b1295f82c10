"""shapelint: a static linter for transposed convolutions and skip connections in exported models."""

__version__ = "0.1.0"
