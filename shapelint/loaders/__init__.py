"""Loaders: one per format, each turning a file into the IR (shapelint.ir)."""


class Names(set):
    """The names taken in a graph, with the next free suffix of each base name remembered, so that
    a thousand layers of one name cost a thousand steps, not half a million."""

    def __init__(self, *args):
        super().__init__(*args)
        self.next: dict = {}


def unique_name(taken: set, name: str) -> str:
    """``name``, or ``name#2``, ``name#3``… when it is taken; the result is added to ``taken``.
    Linear over a graph when ``taken`` is a :class:`Names`."""
    candidate = name
    if candidate in taken:
        nxt = getattr(taken, "next", None)
        k = nxt.get(name, 2) if nxt is not None else 2
        candidate = f"{name}#{k}"
        while candidate in taken:
            k += 1
            candidate = f"{name}#{k}"
        if nxt is not None:
            nxt[name] = k + 1
    taken.add(candidate)
    return candidate
