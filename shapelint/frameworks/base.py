"""What a dialect module declares (:class:`Dialect`), and what its shape and value rules receive
(:class:`RuleContext`). Nothing here knows a framework: each one is a module beside this one
(onnx, tf, keras, tflite), registered once in ``frameworks/__init__.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from ..ir import Node


@dataclass(frozen=True)
class Alias:
    """Another framework's op with the semantics of an op of ``domain`` ("" ONNX, "tf"): that
    op's shape and value rules run under its name. ``attrs`` stand in for attributes the other
    framework does not have. The inference engine resolves aliases (of aliases)."""

    domain: str
    op: str
    attrs: tuple = ()


def alias(onnx_op: str, **attrs) -> Alias:
    """Another framework's op with the semantics of an ONNX op (see :class:`Alias`)."""
    return Alias("", onnx_op, tuple(attrs.items()))


class IntAttrs(frozenset):
    """A dialect's attributes that must be integers: ``scalars`` one integer, ``lists`` a list of
    them (an ONNX INTS attribute stored as one INT, or a Keras ``filters`` given a list, is a
    malformed node, not a crash), the rest either."""

    def __new__(cls, either=(), scalars=(), lists=()):
        self = super().__new__(cls, {*either, *scalars, *lists})
        self.scalars, self.lists = frozenset(scalars), frozenset(lists)
        return self


class RuleContext:
    """One node as a rule sees it: its inputs' shapes and values, its attributes (checked to be
    integers where the dialect says they must be), and the ONNX op whose semantics apply."""

    def __init__(self, inf, node: Node, op: Optional[str] = None, int_attrs: frozenset = frozenset(),
                 opset: int = 18):
        self.inf = inf
        self.node = node
        self.op = op or node.op  # the ONNX op whose semantics apply (other frameworks alias)
        self.int_attrs = int_attrs
        self.opset = opset

    def as_op(self, op: str, node: Optional[Node] = None) -> "RuleContext":
        """The same node (or ``node``) seen as ``op``, to run that op's rule."""
        return RuleContext(self.inf, node if node is not None else self.node, op, self.int_attrs, self.opset)

    def shape(self, i: int):
        return self.inf.shape(self.node.input(i))

    def value(self, i: int):
        return self.inf.value(self.node.input(i))

    def has(self, i: int) -> bool:
        return bool(self.node.input(i))

    def attr(self, key, default=None):
        v = self.node.attr(key, default)
        if v is default or v is None or key not in self.int_attrs:
            return v
        if v.__class__ is int:
            if key in getattr(self.int_attrs, "lists", ()):
                raise ValueError(f"attribute {key} must be a list of integers, got {v!r}")
            return v
        # (bool is not int here: its class is bool; map/count keep this check in C, it runs per node)
        if v.__class__ not in (tuple, list) or list(map(type, v)).count(int) != len(v) \
                or key in getattr(self.int_attrs, "scalars", ()):
            raise ValueError(f"attribute {key} must be {'an integer' if key in getattr(self.int_attrs, 'scalars', ()) else 'integers'}, got {v!r:.80}")
        return v

    def ints(self, i: int):
        """A constant or computed 1-D int input, as a tuple of dims, or None."""
        v = self.value(i)
        if v is None:
            return None
        return tuple(v)


Rule = Callable[[RuleContext], list]  # returns [(shape, value), ...] per output; shape rules leave value None


def out(shape, value=None) -> list:
    """A rule's result for a node with one output."""
    return [(shape, value)]


@dataclass(frozen=True)
class TransposedAxis:
    """One spatial axis of a transposed convolution, in every framework's terms alike."""

    name: str  # "H", "W", "D" (or the axis number past three)
    i: object  # input size (a dim)
    k: int  # kernel
    s: int  # stride
    d: int  # dilation
    pb: int  # explicit pads (begin, end); 0 unless padding == "pads"
    pe: int
    padding: str  # "pads" (explicit), "VALID", "SAME"
    produced: object  # the output size the node produces (a dim, or None)
    why: str  # the framework's rule that produced it, for explain


@dataclass(frozen=True)
class TransposedChoice:
    """One spatial axis of a transposed convolution whose output size is picked among the sizes
    that fit (SL002's conventions), in every framework's terms alike: the ``s`` admissible sizes
    ``low``…``low + s − 1`` for input ``i``, the size ``o`` the node produces or asks for, what
    picked it, and how to pick another in that framework's code. The check renders
    "{name}: input {i} admits {s} output sizes {…}{shown}; {chooser} {o}{after}"."""

    axis: int  # the axis as details name it
    name: str  # "H", "W", ...
    i: object  # input size (a dim)
    s: int  # stride
    low: object  # the smallest admissible size
    o: object  # the size chosen
    chooser: str  # what picked it: "input_sizes picks", "Keras picks", ...
    fix: str  # how to pick another, in the framework's code
    shown: str = ""  # facts shown beside the admissible sizes: " (padding SAME)"
    after: str = ""  # after the chosen size: " (output_padding=None)"
    extra: tuple = ()  # (key, value) details beyond axis, input, admissible, chosen
    text: Callable = None  # how details print a dim (None: as messages do)
    # o is admissible by construction (ONNX: output_padding < stride selects among the admissible
    # sizes), even where a size is unknown; None: the check decides from o and low
    inside: Optional[bool] = None


@dataclass(frozen=True)
class TransposedIssue:
    """A transposed convolution's size or attributes that the framework's runtime rejects or gets
    wrong (SL001), or that two readings of the node disagree on (SL002), stated by its dialect in
    the runtime's words: the message with both numbers, the fix to paste, the details, and the
    severity where it departs from the rule's."""

    message: str
    fix: str
    details: dict
    severity: Optional[str] = None


def _no_spatial(node, rank: int) -> tuple:
    return ()


@dataclass(frozen=True)
class Dialect:
    """Everything shapelint knows about one framework's ops, in one record.

    ``name`` is ``Graph.framework``; ``domains`` the IR domains of its nodes. The analysis, the
    checks, ``explain`` and ``fix`` read these fields and never ask which framework a node is
    from."""

    name: str
    domains: tuple
    runtime: str  # who fails at run time, in messages
    shape_rules: Mapping = field(default_factory=dict)  # op -> Rule or Alias
    value_rules: Mapping = field(default_factory=dict)  # op -> value rule (values.py's signature)
    int_attrs: frozenset = frozenset()  # attributes that must be integers (else the node is malformed)
    opset: Optional[int] = 18  # the ONNX opset whose semantics aliased rules follow; None: the graph's
    shape_args: Mapping = field(default_factory=dict)  # op -> inputs whose values decide output shapes
    shape_sources: frozenset = frozenset()  # ops whose value comes from input shapes, not values
    data_dependent: frozenset = frozenset()  # ops whose output size depends on the data
    # merges: op -> "equal" (Concat: every other axis) or "broadcast"
    merge_ops: Mapping = field(default_factory=dict)
    # (node, non-empty input names) -> (branches, tensor holding the concat axis or None)
    merge_inputs: Optional[Callable] = None
    # windowed ops: below the window the runtime fails (sized), truncates (pools) or is erratic
    sized_ops: frozenset = frozenset()
    pool_ops: frozenset = frozenset()
    erratic_ops: frozenset = frozenset()
    spatial_axes: Callable = _no_spatial  # (node, rank) -> the spatial axes of its data tensors
    transposed_ops: frozenset = frozenset()  # transposed convolutions
    # for transposed convolutions whose output size is an input tensor (TF's input_sizes), which
    # the runtime checks against the admissible range: (inf, node) -> (x shape, per-axis dicts) or None
    output_size_input: Optional[Callable] = None
    # (inf, node) -> (symbol, SizeSet, node, axis) per axis of an explicit output size the runtime
    # bounds (ONNX output_shape); (None, None, node, axis) where a fixed size is out of bounds
    output_shape_limits: Optional[Callable] = None
    # (inf, node) -> [TransposedAxis] for a transposed convolution (``explain``)
    transposed_axes: Optional[Callable] = None
    # transposed convolutions that size their output by their own formula, not by attributes or an
    # output-size tensor (MediaPipe's Convolution2DTransposeBias): SL002 reads them, explain does not
    self_sized_transposed_ops: frozenset = frozenset()
    # SL001: (inf, node, stopped) -> [TransposedIssue], what the runtime rejects (or, TFLite, runs
    # with wrong values) for a transposed convolution, in its words; ``stopped()``: whether the runtime
    # already stopped upstream of the node's input at fixed sizes
    transposed_rejects: Optional[Callable] = None
    # SL002, warnings: (inf, node) -> [TransposedIssue], where two readings of the node's
    # attributes give different sizes (ONNX auto_pad=SAME with output_padding: onnx shape
    # inference and onnxruntime); a node with one has no convention to report
    transposed_disputes: Optional[Callable] = None
    # SL002, info: (inf, node) -> [TransposedChoice] per spatial axis whose size a convention
    # picks; empty where SL001 applies or no convention is involved (an explicit output_shape)
    transposed_choices: Optional[Callable] = None
    pass_through: frozenset = frozenset()  # ops that keep the spatial size (for traces)
    upsamplers: frozenset = frozenset()
    data_input: Mapping = field(default_factory=dict)  # op -> index of the data input when not 0
    weight_ops: frozenset = frozenset()  # ops that read weights (never data)
    # run-time shape checks (analysis.SHAPE_CHECKS, in ONNX terms): op -> the ONNX op whose check
    # applies; ``checks_complete``: every run-time check of this dialect's ops is modelled, so an
    # op without one has none
    shape_checks: Mapping = field(default_factory=dict)
    checks_complete: bool = False
    # a fixed-size spatial dim below its window: the whole-model contract follows the runtime
    # there (ONNX) or abstains (the TF family: behaviour differs by kernel)
    contract_below_windows: bool = False
    # the runtime on empty tensors (measured): ops that run and keep the empty axis, ops that fail;
    # any other op given an empty tensor: shapelint abstains
    # what the runtime does, in its words, where a windowed op (pool_ops) gives an empty output (size 0)
    # from a non-empty input without an error: SL004 warns at fixed sizes; "" where it says nothing
    empty_window: str = ""
    # windowed ops whose result at output size 0 is not one behaviour (TF with oneDNN returns a conv's
    # input unchanged, without it an empty tensor, measured): the contract abstains from there
    erratic_at_zero: frozenset = frozenset()
    # (inf, node) -> why the runtime fails in every build measured where a windowed op's output is 0
    # from a non-empty input at fixed sizes ("" where it does not, or depends on the build): such a
    # node is a failure (SL004 error, contract False), not an erratic one
    fails_at_zero: Optional[Callable] = None
    empty_ok: frozenset = frozenset()
    empty_fails: frozenset = frozenset()
    # (graph, inferred) -> the graph with the control flow that inference decided replaced by the
    # branch taken (ONNX If with a known condition), or None when nothing was decided; inference
    # runs again on it (limits.MAX_IF_ROUNDS)
    refine: Optional[Callable] = None
    # what the runtime says when a check fails (by op, or "op/check"; "broadcast" for elementwise
    # merges), quoted in findings
    runtime_words: Mapping = field(default_factory=dict)
    # (the upsampler node or None, axes=the merge's spatial axes, rank=) -> the model-code change
    # that removes a size restriction at a merge, in the framework's own code
    crop_fix: Optional[Callable] = None
    # at fixed sizes: (the upsampler node or None, the upsampled tensor, {axis: (its size, the
    # skip's)}, axes=, rank=, before=the merge's name) -> the framework's own layers that crop or pad it to the skip's size,
    # or None (then the Slice/Pad wording)
    static_fit: Optional[Callable] = None
