"""The one exception type a user sees: a model that cannot be read, with the reason."""


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines and other controls, line
    separators, the surrogates that stand for undecodable bytes of a file name) escaped, so that an
    error about any file name stays one line and can be printed to any stream."""
    from .escape import line

    return line(text)


class ModelError(Exception):
    """Raised by loaders; the CLI prints ``path: reason`` and exits with 2."""

    def __init__(self, path: str, reason: str):
        super().__init__(one_line(f"{path}: {reason}"))
        self.path = path
        self.reason = reason


class UsageError(Exception):
    """Bad command-line usage (a malformed --input-shape, an unknown input name)."""
