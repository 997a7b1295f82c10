"""The shape IR: plain frozen data, no framework imports.

Vocabulary after onnx-graphsurgeon: a :class:`Graph` of :class:`Node` (op, name, attrs, inputs,
outputs) over named tensors. Graph inputs are :class:`Tensor` with a shape whose dims are
``int`` (fixed), ``str`` (a named dynamic dim) or ``None`` (unknown). Constants carry their
dims and dtype; their values are read lazily, through a loader-supplied callable, and only for
small tensors (shape arguments, scales, pads) -- weights are never read.
"""

from __future__ import annotations

from . import limits

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

ShapeDim = Union[int, str, None]

# Above this many elements a constant is treated as data (a weight): its value is never read.
MAX_VALUE_ELEMENTS = limits.MAX_CONSTANT_ELEMENTS


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: Optional[tuple]  # tuple[ShapeDim, ...] or None when the rank is unknown
    dtype: str = "float32"


_HUGE = 1 << 63


@dataclass(frozen=True)
class Constant:
    """A constant tensor; ``load`` returns its flat values (ints or floats) when called."""

    name: str
    shape: tuple  # tuple[int, ...]
    dtype: str
    load: Callable[[], tuple] = field(compare=False, repr=False)

    @property
    def size(self) -> int:
        """The number of elements, or 2^63 past it: a corrupt shape (a million dims of 2^62) made
        a product of millions of bits that took hours, and the size is only compared with limits."""
        if 0 in self.shape:
            return 0
        n = 1
        for d in self.shape:
            n *= d
            if not -_HUGE <= n <= _HUGE:
                return _HUGE
        return n

    def values(self) -> Optional[tuple]:
        """Flat values, or None for tensors too large to be anything but weights."""
        if self.size > MAX_VALUE_ELEMENTS:
            return None
        return self.load()


@dataclass(frozen=True)
class Node:
    op: str
    name: str
    inputs: tuple  # tensor names; "" for an omitted optional input
    outputs: tuple
    attrs: Any  # a frozen mapping: tuple of (key, value) pairs, see attr()
    domain: str = ""

    def attr(self, key: str, default=None):
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def input(self, i: int) -> str:
        return self.inputs[i] if i < len(self.inputs) else ""


@dataclass(frozen=True)
class Graph:
    name: str
    framework: str  # "onnx", "tensorflow", ...
    opset: int
    inputs: tuple  # tuple[Tensor]
    outputs: tuple  # tensor names
    nodes: tuple  # tuple[Node], topologically sorted
    constants: Any  # mapping name -> Constant (read-only dict)
    notes: tuple = ()  # loader remarks (e.g. "3 nodes in a custom domain")
