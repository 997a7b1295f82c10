"""Every framework's size rules for convolutions, side by side, per spatial axis.

Notation (``../shared/SEMANTICS.md``): ``i`` input size, ``k`` kernel, ``s`` stride, ``d``
dilation, ``K = d·(k−1) + 1``, ``pb``/``pe`` pads at begin/end, ``op`` output_padding.
All functions take ints or symbolic dims (``shapelint.symbolic``) and stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .symbolic import Dim, PositivePred, SizeSet, Undecidable, add, ceildiv, floordiv, mul, solve, sub, symbols


def effective_kernel(k: int, d: int) -> int:
    return d * (k - 1) + 1


# ------------------------------------------------------------------ forward conv and pools


def conv_out(i: Dim, k: int, s: int, d: int, pb: int, pe: int) -> Dim:
    """ONNX/PyTorch/TF forward conv, explicit pads: floor((i + pb + pe − K) / s) + 1."""
    return add(floordiv(add(i, pb + pe - effective_kernel(k, d)), s), 1)


def pool_out(i: Dim, k: int, s: int, d: int, pb: int, pe: int) -> Dim:
    """onnxruntime's pools (ceil_mode=0): trunc((i + pb + pe − K) / s) + 1, with C division that
    rounds toward zero, so a window larger than its input still gives 1 (k2 s2 on 1 → 1).
    Symbolic sizes use floor, equal wherever the window fits; below, the contract evaluates each
    size concretely (see analysis.small_verdicts)."""
    if isinstance(i, int):
        num = i + pb + pe - effective_kernel(k, d)
        q = abs(num) // s
        return (q if num >= 0 else -q) + 1
    return conv_out(i, k, s, d, pb, pe)


def tf_window_out(i: Dim, k: int, s: int, d: int, pb: int, pe: int) -> Dim:
    """TensorFlow's and TFLite's VALID / explicit-pad window (conv and pool alike;
    GetWindowedOutputSize, ComputeOutSize): trunc((i + pb + pe − K + s) / s), C division that rounds
    toward zero. Measured (TF 2.21 CPU, the TFLite interpreter without delegates): a negative size
    fails ("Computed output size would be negative"; TFLite "BytesRequired number of elements
    overflowed"), 0 gives an empty tensor without an error -- so a window larger than its input
    by less than the stride runs, empty (k3 s2 on 2 → 0, k7 s2 on 4 → 0, k3 s1 on 1 → −1).
    Symbolic sizes use floor, equal wherever the result is ≥ 0; below, the contract evaluates
    each size concretely (see analysis.small_verdicts)."""
    if isinstance(i, int):
        num = i + pb + pe - effective_kernel(k, d) + s
        q = abs(num) // s
        return q if num >= 0 else -q
    return conv_out(i, k, s, d, pb, pe)


def pool_out_ceil(i: Dim, k: int, s: int, d: int, pb: int, pe: int) -> Dim:
    """ceil_mode=1 (onnxruntime, PyTorch): ceil((i + pb + pe − K) / s) + 1, minus one when the
    last window would start inside the end padding, i.e. when (out − 1)·s ≥ i + pb."""
    K = effective_kernel(k, d)
    out = add(ceildiv(add(i, pb + pe - K), s), 1)
    # (out-1)·s >= i + pb  <=>  ceil((i+pb+pe-K)/s)·s >= i + pb; with pe < K this never holds
    # when pe <= K - 1 - (s - 1)... decide it exactly instead of assuming:
    last_start = mul(ceildiv(add(i, pb + pe - K), s), s)
    return _drop_last_if(out, last_start, add(i, pb))


def _drop_last_if(out: Dim, last_start: Dim, limit: Dim) -> Dim:
    from .symbolic import maximum, minimum

    # out - [last_start >= limit] == out - 1 + min(1, max(0, limit - last_start))
    if out is None or last_start is None or limit is None:
        return None
    gap = sub(limit, last_start)
    if isinstance(gap, int):
        return out if gap > 0 else sub(out, 1)
    settled = _always_positive(gap)
    if settled is not None:  # the common case (e.g. k2 s2 p0: the last window never starts in the padding)
        return out if settled else sub(out, 1)
    return add(sub(out, 1), minimum(1, maximum(0, gap)))


def _always_positive(e: Dim):
    """True when e ≥ 1 for every size of its one symbol, False when for none, else None."""
    from .symbolic import PositivePred, Undecidable, solve, symbols

    syms = symbols(e)
    if len(syms) != 1:
        return None
    try:
        ok = solve([e], PositivePred(), next(iter(syms)))
    except Undecidable:
        return None
    if ok.is_everything():
        return True
    return False if ok.is_empty() else None


def same_out(i: Dim, s: int) -> Dim:
    """auto_pad SAME_UPPER / SAME_LOWER (ONNX), padding="same" (TF, Keras): ceil(i / s)."""
    return ceildiv(i, s)


# ------------------------------------------------------------------ transposed conv


def onnx_convtranspose_out(i: Dim, k: int, s: int, d: int, pb: int, pe: int, op: int) -> Dim:
    """ONNX ConvTranspose, pads given: o = s·(i − 1) + op + K − pb − pe."""
    return add(mul(s, sub(i, 1)), op + effective_kernel(k, d) - pb - pe)


def onnx_convtranspose_same_out(i: Dim, k: int, s: int, d: int, op: int) -> Dim:
    """ONNX ConvTranspose, auto_pad SAME_*, as onnxruntime computes it: the total pad is
    max(0, (i−1)·s + K + op − i·s), so o = min(i·s, (i−1)·s + K + op): i·s when K + op ≥ s.
    (onnx's own shape inference says i·s + op here: onnx#4299.)"""
    K = effective_kernel(k, d)
    if K + op >= s:
        return mul(i, s)
    return add(mul(s, sub(i, 1)), K + op)


def onnx_shape_inference_same_out(i: Dim, k: int, s: int, d: int, op: int) -> Dim:
    """What onnx.shape_inference says for auto_pad SAME_* with output_padding (measured, onnx
    1.23): min(i·s, (i−1)·s + K) + op -- the output_padding added after the min, where
    onnxruntime adds it inside (onnx#4299)."""
    K = effective_kernel(k, d)
    base = mul(i, s) if K >= s else add(mul(s, sub(i, 1)), K)
    return add(base, op)


def onnx_convtranspose_max_output_shape(i: Dim, k: int, s: int, d: int, op: int) -> Dim:
    """onnxruntime accepts an explicit output_shape o in [1, (i−1)·s + K + s − 1]: above, no
    padding can map it back to i ("Explicit output_shape is inconsistent …"); below, the pads
    it derives absorb the difference."""
    return add(mul(s, sub(i, 1)), effective_kernel(k, d) + s - 1)


@dataclass(frozen=True)
class Admissible:
    """The s output sizes a transposed conv can have for one input size: [low, low + s − 1]."""

    low: Dim
    stride: int

    @property
    def high(self) -> Dim:
        return add(self.low, self.stride - 1)

    def sizes(self) -> tuple:
        return tuple(add(self.low, j) for j in range(self.stride))


def admissible(i: Dim, k: int, s: int, d: int, pb: int, pe: int) -> Admissible:
    """Every o whose forward conv (same k, s, d, pads) gives back i:
    o ∈ [(i−1)·s + K − pb − pe, … + s − 1]."""
    return Admissible(onnx_convtranspose_out(i, k, s, d, pb, pe, 0), s)


def tf_admissible(i: Dim, k: int, s: int, d: int, padding: str, pb: int = 0, pe: int = 0) -> Admissible:
    """TF Conv2DBackpropInput accepts input_sizes o iff the forward conv maps o back to i:
    VALID [(i−1)·s + K, … + s − 1]; SAME [(i−1)·s + 1, i·s]; EXPLICIT as ONNX pads."""
    K = effective_kernel(k, d)
    if padding == "SAME":
        return Admissible(add(mul(s, sub(i, 1)), 1), s)
    if padding == "VALID":
        return Admissible(add(mul(s, sub(i, 1)), K), s)
    return Admissible(add(mul(s, sub(i, 1)), K - pb - pe), s)


def keras_conv_transpose_out(i: Dim, k: int, s: int, d: int, padding: str, output_padding) -> Dim:
    """Keras 3 Conv2DTranspose.

    output_padding None:  same -> i·s;  valid -> (i−1)·s + max(K, s)
    output_padding p:     valid -> (i−1)·s + K + p;  same -> (i−1)·s + K − 2·(K//2) + p
    """
    K = effective_kernel(k, d)
    base = mul(s, sub(i, 1))
    if output_padding is None:
        return mul(i, s) if padding == "same" else add(base, max(K, s))
    if padding == "valid":
        return add(base, K + output_padding)
    return add(base, K - 2 * (K // 2) + output_padding)


def torch_conv_transpose_out(i: Dim, k: int, s: int, p: int, d: int, op: int) -> Dim:
    """PyTorch ConvTranspose{1,2,3}d: o = (i − 1)·s − 2·p + d·(k − 1) + op + 1, op < max(s, d)."""
    return add(mul(s, sub(i, 1)), -2 * p + d * (k - 1) + op + 1)


# ----------------------------------------------------------- whether a transposed conv's size fits


@dataclass(frozen=True)
class TransposedVerdict:
    """Whether TF accepts a transposed conv's output size on one axis: at fixed sizes ``ok``; for a
    symbolic size, ``works`` (sizes of ``symbol`` it accepts) inside ``analysed`` (sizes where the
    output is at least the kernel's extent minus the pads; below, TF's truncating check is not
    modelled)."""

    ok: Optional[bool]
    symbol: Optional[str] = None
    works: Optional[SizeSet] = None
    analysed: Optional[SizeSet] = None


def within_admissible(o, low, s: int):
    """Where a transposed conv's output size ``o`` is one of its ``s`` admissible sizes
    low…low+s−1 (Keras, TF and TFLite checks alike): True or False when that does not depend on
    the input size; (symbol, the sizes where it is) for one symbol; None when undecided."""
    lo_d, hi_d = sub(o, low), sub(add(low, s - 1), o)
    if isinstance(lo_d, int) and isinstance(hi_d, int):
        return lo_d >= 0 and hi_d >= 0
    syms = symbols(lo_d, hi_d)
    if len(syms) != 1:
        return None
    (name,) = syms
    try:
        return name, solve([add(lo_d, 1), add(hi_d, 1)], PositivePred(), name)
    except Undecidable:
        return None
