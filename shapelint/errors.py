"""The one exception type a user sees: a model that cannot be read, with the reason."""


class ModelError(Exception):
    """Raised by loaders; the CLI prints ``path: reason`` and exits with 2."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UsageError(Exception):
    """Bad command-line usage (a malformed --input-shape, an unknown input name)."""
