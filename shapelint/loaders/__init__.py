"""Loaders: one per format, each turning a file into the IR (shapelint.ir)."""


def unique_name(taken: set, name: str) -> str:
    """``name``, or ``name#2``, ``name#3``… when it is taken; the result is added to ``taken``."""
    candidate, k = name, 2
    while candidate in taken:
        candidate = f"{name}#{k}"
        k += 1
    taken.add(candidate)
    return candidate
