"""Values of small tensors (shape arguments: Shape outputs, pads, sizes, scales), apart from shapes.

Shape rules (infer.py) say what shape an op's outputs have; the value rules here say what a
small output holds, from its inputs' values and its own (already inferred) output shape -- one
function per op in one dict, ``VALUE_RULES``, as PyTorch keeps meta registrations apart from
kernels. Other frameworks register theirs beside their shape rules (``TF_VALUE_RULES`` in
frameworks/tf.py, ``TFLITE_VALUE_RULES`` in frameworks/tflite.py).

A value is a flat tuple in row-major order of the tensor's concrete shape, at most
``MAX_VALUE_ELEMENTS`` long. An element is an ``int`` (integer and bool tensors), an ``Expr``
(a symbolic integer: a size computed at run time), a ``float`` (a concrete float), or a
:class:`Rat` (a float tensor's element that is exactly a symbolic integer over a positive
denominator, so ``Cast(float) → Div 2.0 → Ceil → Cast(int)`` stays ``ceil(H/2)``). Nothing is
approximated: what cannot be said exactly raises :class:`Unknown` with the reason, and the value
is unknown.

Facts used to decide comparisons: every symbol is an input dim, and sizes are analysed from 1
(``symbolic.solve`` starts at 1), so a symbol is ≥ 1; floor divisions, products and
max/min/broadcasts of such terms are bounded from that.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from .symbolic import Expr, Floor, MinMax, Prod, Sym, add, ceildiv, floordiv, maximum, minimum, mod, mul, neg, sub

# Values of computed tensors, and of integer constants, are kept up to this many elements
# (enough for any shape argument; a larger tensor is data).
MAX_VALUE_ELEMENTS = 64
# float constants (scales) are read only when they are this small and at most 1-D
MAX_FLOAT_CONSTANT_ELEMENTS = 8

# slice indices at or above this mean "to the end" (INT32_MAX, as exporters write it, included:
# onnxruntime reads it as the axis' size), at or below −BIG "from the start"
BIG = (1 << 31) - 1
ORT_END_SENTINELS = ((1 << 31) - 1, (1 << 63) - 1)  # slice ends onnxruntime reads as "to the end"


class Unknown(Exception):
    """Inference cannot say (a shape or a value); the message says why."""


class NotFollowed(Unknown):
    """A well-formed node whose outputs inference does not follow (an ONNX If whose condition
    depends on the input sizes): unknown, the message says why, but not a malformed node."""


def need(x, why: str = ""):
    if x is None:
        raise Unknown(why)
    return x


def norm_axis(a: int, rank: int) -> int:
    if not isinstance(a, int) or isinstance(a, bool):
        raise ValueError(f"axis {a!r} is not an integer")
    if a < -rank or a >= rank:
        raise ValueError(f"axis {a} out of range for rank {rank}")
    return a + rank if a < 0 else a


def int_or_none(v) -> Optional[int]:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


# --------------------------------------------------------------------------- exact rationals


@dataclass(frozen=True)
class Rat:
    """An element of a float tensor that is exactly ``num / den``: a symbolic integer ``num``
    (an Expr) over a positive integer ``den``. Concrete floats stay Python floats."""

    num: Expr
    den: int

    def __str__(self) -> str:
        return f"float({self.num})" if self.den == 1 else f"({self.num})/{self.den}"


def is_float(x) -> bool:
    return isinstance(x, (float, Rat))


def make_float(num, den: int = 1):
    """The float ``num / den``: a Python float when concrete, else a normalised Rat."""
    if den == 0:
        raise Unknown("division by zero")
    if den < 0:
        num, den = neg(num), -den
    if isinstance(num, int):
        return float(Fraction(num, den))
    g = den
    for _, c in num.terms:
        g = math.gcd(g, c)
    g = math.gcd(g, num.const)
    if g > 1:
        num, den = floordiv(num, g), den // g  # exact: g divides every coefficient
    return Rat(num, den)


def frac(x) -> tuple:
    """(numerator Dim, positive int denominator) of any scalar value."""
    if isinstance(x, Rat):
        return x.num, x.den
    if isinstance(x, bool):
        return int(x), 1
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            raise Unknown("a NaN or infinite float")
        f = Fraction(x)
        return f.numerator, f.denominator
    return x, 1


def round_float(x: float, to: str) -> float:
    """x as the float type ``to`` holds it ("float32", "float16"; "float64" as is)."""
    code = {"float32": "f", "float16": "e"}.get(to)
    if code is None or math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack(code, struct.pack(code, x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


# --------------------------------------------------------------------------- bounds and signs

_INF = math.inf


def _linearize(e) -> tuple:
    """e as Σ c·atom + [lo, hi] with Fraction coefficients, each floor(n/d) replaced by
    n/d − [0, (d−1)/d] (exact for integer n), so H − 2·floor(H/2) is seen to lie in [0, 1]."""
    if isinstance(e, int):
        return {}, Fraction(e), Fraction(e)
    terms: dict = {}
    lo = hi = Fraction(e.const)
    for atom, c in e.terms:
        if isinstance(atom, Floor):
            t2, l2, h2 = _linearize(atom.num)
            d = atom.den
            for a, k in t2.items():
                terms[a] = terms.get(a, 0) + Fraction(c) * k / d
            ilo, ihi = l2 / d - Fraction(d - 1, d), h2 / d
            if c > 0:
                lo, hi = lo + c * ilo, hi + c * ihi
            else:
                lo, hi = lo + c * ihi, hi + c * ilo
        else:
            terms[atom] = terms.get(atom, 0) + c
    return terms, lo, hi


@lru_cache(maxsize=1 << 16)
def _atom_bounds(a) -> tuple:
    if isinstance(a, Sym):
        return 1, _INF  # an input dim; sizes are analysed from 1
    if isinstance(a, Floor):
        lo, hi = bounds(a.num)
        return (math.floor(lo / a.den) if lo != -_INF else -_INF), (math.floor(hi / a.den) if hi != _INF else _INF)
    if isinstance(a, Prod):
        bs = [_atom_bounds(f) for f in a.factors]
        if all(b[0] >= 0 for b in bs):
            lo, hi = 1, 1
            for b in bs:
                lo, hi = lo * b[0], hi * b[1]
            return lo, hi
        return -_INF, _INF
    if isinstance(a, MinMax):
        (alo, ahi), (blo, bhi) = bounds(a.a), bounds(a.b)
        if a.kind == "max":
            return max(alo, blo), max(ahi, bhi)
        if a.kind == "min":
            return min(alo, blo), min(ahi, bhi)
        return min(alo, blo), max(ahi, bhi)  # a broadcast is one of the two
    return -_INF, _INF


def bounds(x) -> tuple:
    """(lowest, highest) value x can take: numbers (or ±inf)."""
    if isinstance(x, (int, float)):
        return x, x
    if isinstance(x, Rat):
        lo, hi = bounds(x.num)
        return lo / x.den, hi / x.den
    return _expr_bounds(x)


@lru_cache(maxsize=1 << 16)
def _expr_bounds(x) -> tuple:
    # two sound bounds, the tighter of each taken: floors linearized (H − 2·floor(H/2) ∈ [0, 1]) and
    # term by term (3·floor(W/3) ≥ 0); an Expr is an integer, so both round inward
    lin, lo, hi = _linearize(x)
    lo, hi = _add_bounds(lin.items(), lo, hi)
    lo2, hi2 = _add_bounds(x.terms, Fraction(x.const), Fraction(x.const))
    lo, hi = max(lo, lo2), min(hi, hi2)
    return (math.ceil(lo) if lo != -_INF else lo), (math.floor(hi) if hi != _INF else hi)


def _add_bounds(terms, lo, hi) -> tuple:
    for a, c in terms:
        if c == 0:
            continue
        alo, ahi = _atom_bounds(a)
        if c > 0:
            lo, hi = lo + c * alo if alo != -_INF and lo != -_INF else -_INF, hi + c * ahi if ahi != _INF and hi != _INF else _INF
        else:
            lo, hi = lo + c * ahi if ahi != _INF and lo != -_INF else -_INF, hi + c * alo if alo != -_INF and hi != _INF else _INF
    return lo, hi


def _difference(a, b):
    """The sign-carrying numerator of a − b (an int or Expr)."""
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return None
    (na, da), (nb, db) = frac(a), frac(b)
    return sub(mul(na, db), mul(nb, da))


def compare(op: str, a, b) -> int:
    """Equal / Less / Greater / LessOrEqual / GreaterOrEqual of two scalars, decided or Unknown."""
    d = _difference(a, b)
    if d is None:  # concrete floats
        return int({"Equal": a == b, "Less": a < b, "Greater": a > b, "LessOrEqual": a <= b,
                    "GreaterOrEqual": a >= b}[op])
    if isinstance(d, int):
        lo = hi = d
    else:
        lo, hi = bounds(d)
    if op == "Equal":
        if lo == hi == 0:
            return 1
        if lo > 0 or hi < 0:
            return 0
    elif op == "Less":
        if hi < 0:
            return 1
        if lo >= 0:
            return 0
    elif op == "Greater":
        if lo > 0:
            return 1
        if hi <= 0:
            return 0
    elif op == "LessOrEqual":
        if hi <= 0:
            return 1
        if lo > 0:
            return 0
    elif op == "GreaterOrEqual":
        if lo >= 0:
            return 1
        if hi < 0:
            return 0
    raise Unknown(f"{op}({a}, {b}) depends on the sizes")


def indicator(op: str, a, b):
    """A comparison's output value: decided (0 or 1) where :func:`compare` decides it, else the
    truth value as an exact integer expression of the sizes ([d > 0] = min(max(d, 0), 1) for the
    integer d = a − b), so that sums such as torch's floor-division fix-up still fold. Never to
    be used as a Python bool (that is what compare is for)."""
    try:
        return compare(op, a, b)
    except Unknown:
        d = _difference(a, b)
        if d is None or isinstance(d, int):
            raise
    if expr_size(d) > MAX_INDICATOR_SIZE:
        raise Unknown(f"{op}({a}, {b}) depends on the sizes")
    pos, negd = _positive(d), _positive(neg(d))
    return {"Less": negd, "Greater": pos, "LessOrEqual": sub(1, pos), "GreaterOrEqual": sub(1, negd),
            "Equal": sub(sub(1, pos), negd)}[op]


# an undecided comparison or a truncating division of either sign becomes an expression only
# while its operand is this small (atoms counted): beyond, expressions would grow without end
# through the graph (a Swin's window padding), so the value is unknown instead
MAX_INDICATOR_SIZE = 64


@lru_cache(maxsize=1 << 18)
def expr_size(e) -> int:
    """Atoms in an expression's tree (cached per node, so linear in its shared form)."""
    if isinstance(e, (int, float, Fraction)):
        return 1
    if isinstance(e, Expr):
        return 1 + sum(expr_size(a) for a, _ in e.terms)
    if isinstance(e, Sym):
        return 1
    if isinstance(e, Floor):
        return 1 + expr_size(e.num)
    if isinstance(e, Prod):
        return sum(expr_size(f) for f in e.factors)
    if isinstance(e, MinMax):
        return 1 + expr_size(e.a) + expr_size(e.b)
    return 1 + expr_size(e.num) if isinstance(e, Rat) else 1


def _truth_value(x):
    """A logical op's operand as 0 or 1. And, Or, Xor and Not take bool tensors (ONNX and TF alike),
    so a symbolic operand is an indicator already (0 or 1 at every size): it is kept as it is."""
    if isinstance(x, (int, float)):
        return truth(x)
    return x


def _positive(d):
    """[d > 0] for an integer d: 1 or 0, as an expression."""
    return minimum(maximum(d, 0), 1)


def truth(x) -> int:
    if isinstance(x, float):
        return int(x != 0)
    if isinstance(x, int):
        return int(x != 0)
    return 1 - compare("Equal", x, 0)


def _extreme(a, b, keep_a: str, symbolic):
    """max or min of two values: decided where the comparison ``keep_a`` is, else the symbolic
    ``symbolic(a, b)`` (never for floats)."""
    try:
        return a if compare(keep_a, a, b) else b
    except Unknown:
        if is_float(a) or is_float(b):
            raise
        return symbolic(a, b)


def _max(a, b):
    return _extreme(a, b, "GreaterOrEqual", maximum)


def _min(a, b):
    return _extreme(a, b, "LessOrEqual", minimum)


def trunc_div(a, b):
    """Integer division that truncates toward zero (ONNX Div, C++), exact when the signs are known."""
    if isinstance(b, int) and b == 0:
        raise Unknown("integer division by zero")
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q
    if isinstance(b, int):
        if b < 0:
            return neg(trunc_div(a, -b))
        lo, hi = bounds(a)
        if lo >= 0:
            return floordiv(a, b)
        if hi <= 0:
            return neg(floordiv(neg(a), b))
        # either sign: trunc(a/b) = floor(max(a, 0)/b) − floor(max(−a, 0)/b), exact
        if expr_size(a) > MAX_INDICATOR_SIZE:
            raise Unknown(f"the sign of {a} is not known, and the exact form of its truncating division by {b} "
                          f"is too large")
        return sub(floordiv(maximum(a, 0), b), floordiv(maximum(neg(a), 0), b))
    return _symbolic_quotient(a, b)


def _symbolic_quotient(a, b):
    """a / b for a symbolic divisor: only where it divides exactly and provably (either rounding)."""
    q = exact_quotient(a, b)
    if q is None:
        raise Unknown(f"division of {a} by the symbolic {b}")
    return q


def floor_div(a, b):
    """Floor division (TF FloorDiv, Python //)."""
    if isinstance(b, int) and b == 0:
        raise Unknown("integer division by zero")
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    if isinstance(b, int):
        return floordiv(a, b) if b > 0 else floordiv(neg(a), -b)
    return _symbolic_quotient(a, b)


def floor_mod(a, b):
    """a − b·floor(a/b): the sign of the divisor (ONNX Mod fmod=0, TF FloorMod, Python %)."""
    if isinstance(b, int) and b == 0:
        raise Unknown("modulo by zero")
    if isinstance(a, int) and isinstance(b, int):
        return a % b
    if isinstance(b, int):
        return mod(a, b) if b > 0 else neg(mod(neg(a), -b))
    raise Unknown(f"modulo by the symbolic {b}")


def exact_quotient(total, known):
    """total / known when it divides exactly and provably (equal, or a common product factor)."""
    if isinstance(known, int) and known > 0:
        if isinstance(total, int):
            return total // known if total % known == 0 else None
        q = floordiv(total, known)
        return q if mul(q, known) == total else None
    if known == total:
        return 1
    if isinstance(total, Expr) and isinstance(known, Expr) and len(known.terms) == 1 and known.const == 0 \
            and total.const == 0:
        (ka, kc), = known.terms
        kf = ka.factors if isinstance(ka, Prod) else (ka,)
        out = 0
        for ta, tc in total.terms:
            tf = list(ta.factors if isinstance(ta, Prod) else (ta,))
            for f in kf:
                if f not in tf:
                    return None
                tf.remove(f)
            if tc % kc:
                return None
            rest = tc // kc
            for f in tf:
                rest = mul(rest, Expr(((f, 1),), 0))
            out = add(out, rest)
        return out
    return None


def _isqrt_expr(e):
    """√e when e is provably a perfect square (c²·Π atomᵢ^(2kᵢ)), else None."""
    if isinstance(e, int):
        if e < 0:
            return None
        r = math.isqrt(e)
        return r if r * r == e else None
    if e.const != 0 or len(e.terms) != 1:
        return None
    (atom, c), = e.terms
    rc = math.isqrt(c) if c > 0 else -1
    if rc < 0 or rc * rc != c:
        return None
    factors = list(atom.factors) if isinstance(atom, Prod) else [atom]
    out = rc
    while factors:
        f = factors.pop(0)
        if f not in factors:
            return None
        factors.remove(f)
        out = mul(out, Expr(((f, 1),), 0))
    return out


# --------------------------------------------------------------------------- scalar ops

COMPARISONS = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")


def binary(op: str, a, b, fmod: int = 0):
    """One element of an ONNX binary op (plus FloorDiv / FloorMod / SquaredDifference / NotEqual)."""
    if op in COMPARISONS:
        return indicator(op, a, b)
    if op == "NotEqual":
        return sub(1, indicator("Equal", a, b))
    if op in ("And", "Or", "Xor"):
        ta, tb = _truth_value(a), _truth_value(b)  # 0 or 1, or an expression that is
        both = mul(ta, tb)
        return {"And": both, "Or": sub(add(ta, tb), both), "Xor": sub(add(ta, tb), mul(2, both))}[op]
    if op == "Max":
        return _max(a, b)
    if op == "Min":
        return _min(a, b)
    if op == "SquaredDifference":
        d = binary("Sub", a, b)
        return binary("Mul", d, d)
    if isinstance(a, Rat) or isinstance(b, Rat) or (is_float(a) or is_float(b)) and (
            isinstance(a, Expr) or isinstance(b, Expr)):
        return _rational(op, a, b)
    if is_float(a) or is_float(b):
        return _float(op, float(a) if isinstance(a, int) else a, float(b) if isinstance(b, int) else b, fmod)
    if op == "Add":
        return add(a, b)
    if op == "Sub":
        return sub(a, b)
    if op == "Mul":
        return mul(a, b)
    if op == "Div":
        return trunc_div(a, b)
    if op == "FloorDiv":
        return floor_div(a, b)
    if op == "FloorMod" or op == "Mod" and not fmod:
        return floor_mod(a, b)
    if op == "Mod":  # fmod=1: the sign of the dividend
        if isinstance(a, int) and isinstance(b, int):
            if b == 0:
                raise Unknown("modulo by zero")
            return int(math.fmod(a, b))
        if bounds(a)[0] >= 0 and isinstance(b, int) and b:
            return mod(a, abs(b))
        raise Unknown(f"fmod of {a} by {b}")
    if op == "Pow":
        if isinstance(b, int) and 0 <= b <= 8:
            out = 1
            for _ in range(b):
                out = mul(out, a)
            return out
        raise Unknown(f"Pow({a}, {b}) is not an integer")
    raise Unknown(f"no value rule for {op} of integers")


def _float(op: str, a: float, b: float, fmod: int):
    try:
        if op == "Add":
            return a + b
        if op == "Sub":
            return a - b
        if op == "Mul":
            return a * b
        if op == "Div":
            if b == 0:
                raise Unknown("float division by zero")
            return a / b
        if op == "Pow":
            r = a ** b
            if isinstance(r, complex):
                raise Unknown("Pow of a negative base")
            return float(r)
        if op == "Mod" or op == "FloorMod":
            if b == 0:
                raise Unknown("modulo by zero")
            return math.fmod(a, b) if op == "Mod" else a % b
        if op == "FloorDiv":
            if b == 0:
                raise Unknown("division by zero")
            return float(a // b)
    except OverflowError:
        raise Unknown("float overflow") from None
    raise Unknown(f"no value rule for {op} of floats")


def _rational(op: str, a, b):
    (na, da), (nb, db) = frac(a), frac(b)
    if op == "Add":
        return make_float(add(mul(na, db), mul(nb, da)), da * db)
    if op == "Sub":
        return make_float(sub(mul(na, db), mul(nb, da)), da * db)
    if op == "Mul":
        return make_float(mul(na, nb), da * db)
    if op == "Div":
        if isinstance(nb, int):
            if nb == 0:
                raise Unknown("float division by zero")
            return make_float(mul(na, db), da * nb)
        q = exact_quotient(mul(na, db), nb)
        if q is not None and bounds(nb)[0] > 0:
            return make_float(q, da)
        raise Unknown(f"division of {a} by the symbolic {b}")
    if op == "Pow":
        if isinstance(b, (int, float)) and float(b) == 0.5:
            return sqrt(a)
        if isinstance(b, (int, float)) and float(b).is_integer() and 0 <= b <= 8:
            out = 1.0
            for _ in range(int(b)):
                out = binary("Mul", out, a)
            return out
        raise Unknown(f"Pow of a symbolic value by {b} is not exact")
    if op == "FloorDiv":
        return unary("Floor", _rational("Div", a, b))
    raise Unknown(f"{op} of a symbolic float")


def sqrt(x):
    if isinstance(x, (int, float)):
        if x < 0:
            raise Unknown("Sqrt of a negative value")
        return math.sqrt(x)
    n, d = frac(x)
    rn, rd = _isqrt_expr(n), _isqrt_expr(d)
    if rn is None or rd is None:
        raise Unknown(f"Sqrt of the symbolic value {x} is not exact")
    return make_float(rn, rd)


def unary(op: str, x):
    if op == "Neg":
        if isinstance(x, float):
            return -x
        if isinstance(x, Rat):
            return make_float(neg(x.num), x.den)
        return neg(x)
    if op == "Abs":
        if isinstance(x, (int, float)):
            return abs(x)
        lo, hi = bounds(x)
        if lo >= 0:
            return x
        if hi <= 0:
            return unary("Neg", x)
        raise Unknown(f"Abs of {x}, whose sign is not known")
    if op == "Sign":
        if isinstance(x, (int, float)):
            s = (x > 0) - (x < 0)
            return float(s) if isinstance(x, float) else s
        lo, hi = bounds(x)
        s = 1 if lo > 0 else -1 if hi < 0 else 0 if lo == hi == 0 else None
        if s is None:
            raise Unknown(f"Sign of {x}")
        return float(s) if isinstance(x, Rat) else s
    if op in ("Floor", "Ceil", "Round"):
        if isinstance(x, float):
            if math.isnan(x) or math.isinf(x):
                return x
            return float({"Floor": math.floor, "Ceil": math.ceil, "Round": round}[op](x))
        if isinstance(x, Rat):
            if x.den == 1:
                return x
            if op == "Round":
                raise Unknown("Round of a symbolic value")
            return make_float(floordiv(x.num, x.den) if op == "Floor" else ceildiv(x.num, x.den), 1)
        return x  # already integral
    if op == "Sqrt":
        return sqrt(x)
    if op == "Reciprocal":
        return binary("Div", 1.0, x)
    if op == "Not":
        return sub(1, _truth_value(x))
    if op == "Square":
        return binary("Mul", x, x)
    if op == "Relu":
        return _max(x, 0.0 if is_float(x) else 0)
    raise Unknown(f"no value rule for {op}")


# dtypes ------------------------------------------------------------------------

# ONNX TensorProto data types
ONNX_INT_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 12: "uint32",
                  13: "uint64", 9: "bool"}
ONNX_FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def cast(x, to: str):
    """One element cast to the dtype named ``to`` ("int64", "float32", "bool", ...)."""
    if to == "bool":
        return truth(x)
    if to.startswith("float") or to == "bfloat16":
        if isinstance(x, Expr):
            return Rat(x, 1)
        if isinstance(x, Rat):
            return x
        return round_float(float(x), to)
    if not to.startswith(("int", "uint")):
        raise Unknown(f"Cast to {to}")
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            raise Unknown("Cast of a NaN or infinite float to an integer")
        return int(x)  # C casts truncate
    if isinstance(x, Rat):
        return trunc_div(x.num, x.den) if x.den != 1 else x.num
    return x


# --------------------------------------------------------------------------- shapes and indices


def concrete(shape, what: str = "the output") -> tuple:
    """The shape, all ints and small enough to hold a value; else Unknown."""
    if shape is None or any(not isinstance(d, int) for d in shape):
        raise Unknown(f"{what} has no concrete shape")
    if math.prod(shape) > MAX_VALUE_ELEMENTS:
        raise Unknown(f"{what} has more than {MAX_VALUE_ELEMENTS} elements")
    return tuple(shape)


def _strides(shape) -> tuple:
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return tuple(reversed(out))


def ravel(idx, shape) -> int:
    off = 0
    for i, d in zip(idx, shape):
        off = off * d + i
    return off


def indices(shape):
    return itertools.product(*(range(d) for d in shape))


def val(ctx, i: int) -> tuple:
    """Input i's value with its concrete shape: (flat values, shape)."""
    name = ctx.node.input(i)
    v = ctx.value(i)
    if v is None:
        raise Unknown(f"input {i} ('{name}') has no known value" if name else f"input {i} is absent")
    s = ctx.shape(i)
    if s is None or any(not isinstance(d, int) for d in s) or math.prod(s) != len(v):
        raise Unknown(f"input {i} ('{name}') has a value but no matching concrete shape")
    return tuple(v), tuple(s)


def scalar(ctx, i: int):
    v, _ = val(ctx, i)
    if len(v) != 1:
        raise ValueError(f"input {i} is not a scalar")
    return v[0]


def ints(ctx, i: int) -> tuple:
    v, _ = val(ctx, i)
    out = tuple(int_or_none(x) for x in v)
    if None in out:
        raise Unknown(f"input {i} holds symbolic or fractional values")
    return out


def broadcast(vals, shapes, out_shape, fn) -> tuple:
    """fn over the elements of values of concrete shapes, numpy-broadcast to out_shape."""
    out_shape = concrete(out_shape)
    rank = len(out_shape)
    strides = []
    for s in shapes:
        if len(s) > rank or any(d != 1 and d != o for d, o in zip(s, out_shape[rank - len(s):])):
            # (the output's shape came from elsewhere: two tensors of one name in a malformed graph)
            raise Unknown(f"a value of shape {list(s)} does not broadcast to the output's {list(out_shape)}")
        st = _strides(s)
        pad = rank - len(s)
        strides.append(tuple(0 for _ in range(pad)) + tuple(0 if d == 1 else st[k] for k, d in enumerate(s)))
    out = []
    for idx in indices(out_shape):
        args = [v[sum(i * t for i, t in zip(idx, st))] for v, st in zip(vals, strides)]
        out.append(fn(*args))
    return tuple(out)


def broadcast_shape(a: tuple, b: tuple) -> tuple:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes do not broadcast ({x} vs {y})")
        out.append(y if x == 1 else x)
    return tuple(out)


# --------------------------------------------------------------------------- slicing (shared with the shape rules)


def slice_dim(n, start, end, step: int):
    """Size and start index of one sliced axis, onnxruntime's clamping, exact for symbolic n."""
    if step == 0:
        raise ValueError("slice step 0")
    if step > 0:
        s = clamp_index(n, start, 0, n)
        e = clamp_index(n, end, 0, n)
        size = _max0(ceildiv(sub(e, s), step)) if step > 1 else _max0(sub(e, s))
    else:  # the start clamps to [0, n − 1], the end to [−1, n − 1] (so a start below 0 still takes element 0)
        s = clamp_index(n, start, 0, sub(n, 1))
        # onnxruntime reads an end of INT32_MAX or INT64_MAX as "to the end in the step's
        # direction", so backwards it slices down to element 0 (the spec would clamp it to n − 1)
        e = -1 if isinstance(end, int) and end in ORT_END_SENTINELS else clamp_index(n, end, -1, sub(n, 1))
        # never more than n: the clamps above cannot make an empty axis (n = 0) stay empty
        size = minimum(n, maximum(0, ceildiv(sub(s, e), -step)))
    return size, s


def clamp_index(n, i, lo, hi):
    if isinstance(i, int):
        if i >= BIG:
            return hi
        if i <= -BIG:
            return lo
        if i < 0:
            return _max0(add(n, i)) if lo == 0 else maximum(lo, add(n, i))
        if i == 0 and _nonneg(hi):
            return 0
        return minimum(hi, i) if not (isinstance(hi, int)) else min(hi, i)
    # a symbolic index (computed from a Shape): as onnxruntime, one below 0 counts from the end
    # (torchaudio's ConvTasNet crops with `output[..., :-num_pads]`, num_pads computed from the length)
    sign = index_sign(i)
    if sign is None:
        raise Unknown(f"a slice index {i} may be negative or not, depending on the input's size")
    if sign < 0:
        return _max0(add(n, i)) if lo == 0 else maximum(lo, add(n, i))
    return minimum(hi, i) if isinstance(lo, int) and lo <= 0 else minimum(hi, maximum(lo, i))


def _max0(x):
    """max(0, x), written as x where x is ≥ 0 by its form."""
    return x if _nonneg(x) else maximum(0, x)


def _nonneg(e) -> bool:
    """Whether ``e`` is ≥ 0 by its form alone (sizes, floors of sizes, their products and sums)."""
    if isinstance(e, int):
        return e >= 0
    if isinstance(e, Sym):
        return True
    if isinstance(e, Expr):
        return e.const >= 0 and all(c > 0 and _nonneg(a) for a, c in e.terms)
    if isinstance(e, Floor):
        return _nonneg(e.num)
    if isinstance(e, Prod):
        return all(_nonneg(f) for f in e.factors)
    if isinstance(e, MinMax):
        if e.kind == "max":
            return _nonneg(e.a) or _nonneg(e.b)
        return _nonneg(e.a) and _nonneg(e.b)
    return False


def index_sign(i) -> Optional[int]:
    """1 when the symbolic index ``i`` is ≥ 0 at every size ≥ 1 of its symbol, −1 when it is < 0
    at every size, None when that depends on the size or cannot be shown (several symbols)."""
    from .symbolic import PositivePred, Undecidable, solve, symbols

    if _nonneg(i):
        return 1
    names = symbols(i)
    if len(names) != 1:
        return None
    (name,) = names
    try:
        if solve([add(i, 1)], PositivePred(), name).is_everything():
            return 1
        if solve([neg(i)], PositivePred(), name).is_everything():
            return -1
    except Undecidable:
        return None
    return None


def pick(v, in_shape, out_shape, source) -> tuple:
    """out[idx] = v[source(idx)] over every index of the concrete out_shape."""
    out_shape = concrete(out_shape)
    out = []
    for idx in indices(out_shape):
        src = tuple(source(idx))
        if len(src) != len(in_shape) or any(not 0 <= c < d for c, d in zip(src, in_shape)):
            raise ValueError("the output does not fit the input (a malformed node)")
        out.append(v[ravel(src, in_shape)])
    return tuple(out)


# --------------------------------------------------------------------------- value rules

ValueRule = Callable  # (ctx, output shapes) -> value of output 0, or a list of values per output


def _elementwise(ctx, outs):
    names = [n for n in ctx.node.inputs if n]
    op = ctx.op
    if op == "Clip":
        return _clip(ctx, outs)
    fmod = ctx.attr("fmod", 0) or 0
    if len(names) == 2 and op in ("And", "Mul", "Or"):
        for k in (0, 1):  # an all-false And, or an integer Mul by all zeros, is known without the other side
            try:
                v, s = val(ctx, k)
            except Unknown:
                continue
            if op in ("And", "Mul") and all(x == 0 and not isinstance(x, float) for x in v) or \
                    op == "Or" and all(isinstance(x, int) and x != 0 for x in v):
                return tuple(0 if op != "Or" else 1 for _ in indices(concrete(outs[0])))
    pairs = [val(ctx, i) for i in range(len(ctx.node.inputs)) if ctx.node.input(i)]
    if op in ("Sum", "Max", "Min", "Mean") and len(pairs) != 2:
        f = "Add" if op in ("Sum", "Mean") else op
        acc, acc_s = pairs[0]
        for v, s in pairs[1:]:
            ns = broadcast_shape(acc_s, s)
            acc = broadcast([acc, v], [acc_s, s], ns, lambda a, b: binary(f, a, b))
            acc_s = ns
        if op == "Mean":
            acc = tuple(binary("Div", x, float(len(pairs))) for x in acc)
        return broadcast([acc], [acc_s], outs[0], lambda x: x)
    if op == "Mean":
        (a, sa), (b, sb) = pairs
        return broadcast([a, b], [sa, sb], outs[0], lambda x, y: binary("Div", binary("Add", x, y), 2.0))
    if len(pairs) != 2:
        raise Unknown(f"{op} with {len(pairs)} inputs")
    (a, sa), (b, sb) = pairs
    return broadcast([a, b], [sa, sb], outs[0], lambda x, y: binary(op, x, y, fmod))


def _clip(ctx, outs):
    v, s = val(ctx, 0)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
    else:
        lo = scalar(ctx, 1) if ctx.has(1) else None
        hi = scalar(ctx, 2) if ctx.has(2) else None

    def f(x):
        if lo is not None:
            x = _max(x, lo)
        if hi is not None:
            x = _min(x, hi)
        return x

    return broadcast([v], [s], outs[0], f)


def _unary(ctx, outs):
    v, s = val(ctx, 0)
    return tuple(unary(ctx.op, x) for x in v)


def _identity(ctx, outs):
    v, _ = val(ctx, 0)
    return [v] + [None] * (len(outs) - 1)


def _cast(ctx, outs):
    v, _ = val(ctx, 0)
    to = ctx.attr("to")
    if to == 9:  # bool: x ≠ 0, decided or an indicator of the sizes (asteroid's `if values_to_pad:`)
        return tuple(truth(x) if isinstance(x, (int, float)) else sub(1, indicator("Equal", x, 0)) for x in v)
    name = ONNX_INT_TYPES.get(to) or ONNX_FLOAT_TYPES.get(to)
    if name is None:
        raise Unknown(f"Cast to type {to}")
    return tuple(cast(x, name) for x in v)


def _where(ctx, outs):
    (c, sc), (x, sx), (y, sy) = val(ctx, 0), val(ctx, 1), val(ctx, 2)
    return broadcast([c, x, y], [sc, sx, sy], outs[0], lambda k, a, b: a if truth(k) else b)


def _shape(ctx, outs):
    s = ctx.shape(0)
    if s is None:
        raise Unknown("the input's rank is not known")
    rank = len(s)
    start, end = ctx.attr("start", 0), ctx.attr("end", rank)
    start = max(0, min(rank, start + rank if start < 0 else start))
    end = max(0, min(rank, end + rank if end < 0 else end))
    v = tuple(s[start:end])
    if any(d is None for d in v):
        raise Unknown("the input's shape is not fully known")
    return v


def _size(ctx, outs):
    s = ctx.shape(0)
    if s is None or any(d is None for d in s):
        raise Unknown("the input's shape is not fully known")
    n = 1
    for d in s:
        n = mul(n, d)
    return (n,)


def _constant_of_shape(ctx, outs):
    shape = concrete(outs[0])
    fill = ctx.attr("value")
    fill_v = fill.values() if fill is not None else (0.0,)
    if not fill_v:
        raise Unknown("the fill value cannot be read")
    return tuple(fill_v[:1]) * math.prod(shape)


def _range(ctx, outs):
    (n,) = concrete(outs[0])
    a, d = scalar(ctx, 0), scalar(ctx, 2)
    out, x = [], a
    for _ in range(n):  # onnxruntime accumulates: val += delta
        out.append(x)
        x = binary("Add", x, d)
    return tuple(out)


def range_count(a, b, d):
    """Range's element count max(0, ceil((limit − start) / delta)), exact, or None."""
    if isinstance(d, Expr) or isinstance(d, Rat) or d == 0:
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and (isinstance(a, float) or isinstance(b, float)
                                                                        or isinstance(d, float)):
        return max(0, math.ceil((b - a) / d))
    try:
        (na, da), (nb, db), (nd, dd) = frac(a), frac(b), frac(d)
    except Unknown:
        return None
    # (b − a) / d = (nb·da − na·db)·dd / (da·db·nd)
    num = mul(sub(mul(nb, da), mul(na, db)), dd)
    den = da * db * nd
    if den < 0:
        num, den = neg(num), -den
    return _max(0, ceildiv(num, den))


def gather_values(ctx, outs):
    dv, ds = val(ctx, 0)
    iv, is_ = val(ctx, 1)
    axis = norm_axis(ctx.attr("axis", 0), len(ds))
    n = ds[axis]
    idx = []
    for i in iv:
        i = int_or_none(i)
        if i is None:
            raise Unknown("a symbolic index")
        if not -n <= i < n:
            raise Unknown(f"index {i} out of range for size {n} (onnxruntime fails)")
        idx.append(i + n if i < 0 else i)
    k = len(is_)

    def source(o):
        return o[:axis] + (idx[ravel(o[axis:axis + k], is_)],) + o[axis + k:]

    return pick(dv, ds, outs[0], source)


def _gather_elements(ctx, outs):
    dv, ds = val(ctx, 0)
    iv, is_ = val(ctx, 1)
    axis = norm_axis(ctx.attr("axis", 0), len(ds))
    out = []
    for o in indices(concrete(outs[0])):
        i = _index(iv[ravel(o, is_)], ds[axis])
        out.append(dv[ravel(o[:axis] + (i,) + o[axis + 1:], ds)])
    return tuple(out)


def _index(i, n: int) -> int:
    i = int_or_none(i)
    if i is None:
        raise Unknown("a symbolic index")
    if not -n <= i < n:
        raise Unknown(f"index {i} out of range for size {n} (onnxruntime fails)")
    return i + n if i < 0 else i


def _gather_nd(ctx, outs):
    dv, ds = val(ctx, 0)
    iv, is_ = val(ctx, 1)
    b = ctx.attr("batch_dims", 0)
    k = is_[-1]
    out = []
    for o in indices(concrete(outs[0])):
        pre, tail = o[:len(is_) - 1], o[len(is_) - 1:]
        start = ravel(pre, is_[:-1]) * k
        tup = tuple(_index(iv[start + j], ds[b + j]) for j in range(k))
        out.append(dv[ravel(pre[:b] + tup + tail, ds)])
    return tuple(out)


def _scatter_elements(ctx, outs):
    dv, ds = val(ctx, 0)
    iv, is_ = val(ctx, 1)
    uv, _ = val(ctx, 2)
    red = ctx.attr("reduction", "none") or "none"
    out = list(dv)
    if ctx.op == "ScatterElements":
        axis = norm_axis(ctx.attr("axis", 0), len(ds))
        for o in indices(is_):
            j = ravel(o, is_)
            t = ravel(o[:axis] + (_index(iv[j], ds[axis]),) + o[axis + 1:], ds)
            out[t] = _reduce_one(red, out[t], uv[j])
    else:  # ScatterND
        k = is_[-1]
        tail_shape = ds[k:]
        tail_n = math.prod(tail_shape)
        for o in indices(is_[:-1]):
            j = ravel(o, is_[:-1])
            pre = tuple(_index(iv[j * k + m], ds[m]) for m in range(k))
            base = ravel(pre, ds[:k]) * tail_n
            for t in range(tail_n):
                out[base + t] = _reduce_one(red, out[base + t], uv[j * tail_n + t])
    return tuple(out)


def _reduce_one(red: str, a, b):
    if red == "none":
        return b
    return binary({"add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}[red], a, b)


def _same_values(ctx, outs):
    """Ops that only re-shape: the flat values stay as they are."""
    v, _ = val(ctx, 0)
    if math.prod(concrete(outs[0])) != len(v):
        raise ValueError("element count changes")
    return v


def _expand(ctx, outs):
    v, s = val(ctx, 0)
    return broadcast([v], [s], outs[0], lambda x: x)


def _tile(ctx, outs):
    v, s = val(ctx, 0)
    return pick(v, s, outs[0], lambda o: tuple(i % d for i, d in zip(o, s)))


def concat_values(ctx, outs, names=None, axis=None):
    names = names if names is not None else [n for n in ctx.node.inputs if n]
    parts = [val(ctx, ctx.node.inputs.index(n)) for n in names]
    out_shape = concrete(outs[0])
    axis = norm_axis(ctx.attr("axis", 0) if axis is None else axis, len(out_shape))
    owner = []  # per position on the axis: (part, position within it)
    for p, (_, s) in enumerate(parts):
        if len(s) != len(out_shape) or any(d != e for k, (d, e) in enumerate(zip(s, out_shape)) if k != axis):
            raise ValueError("the inputs do not fit the output (a malformed Concat)")
        owner += [(p, j) for j in range(s[axis])]
    if len(owner) != out_shape[axis]:
        raise ValueError("the inputs do not fit the output (a malformed Concat)")
    out = []
    for o in indices(out_shape):
        p, j = owner[o[axis]]
        v, s = parts[p]
        out.append(v[ravel(o[:axis] + (j,) + o[axis + 1:], s)])
    return tuple(out)


def _slice(ctx, outs):
    v, s = val(ctx, 0)
    if ctx.opset < 10:
        starts, ends, axes, steps = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes"), None
    else:
        starts, ends = ints(ctx, 1), ints(ctx, 2)
        axes = ints(ctx, 3) if ctx.has(3) else None
        steps = ints(ctx, 4) if ctx.has(4) else None
    axes = axes if axes is not None else tuple(range(len(starts)))
    steps = steps if steps is not None else (1,) * len(starts)
    picks = [(0, 1)] * len(s)
    for a, st, en, sp in zip(axes, starts, ends, steps):
        a = norm_axis(a, len(s))
        _, begin = slice_dim(s[a], st, en, sp)
        picks[a] = (begin, sp)
    return pick(v, s, outs[0], lambda o: tuple(b + p * i for (b, p), i in zip(picks, o)))


def _transpose(ctx, outs):
    v, s = val(ctx, 0)
    perm = ctx.attr("perm") or tuple(reversed(range(len(s))))
    return transposed(v, s, tuple(perm), outs[0])


def transposed(v, s, perm, out_shape):
    def source(o):
        src = [0] * len(s)
        for k, p in enumerate(perm):
            src[p] = o[k]
        return tuple(src)

    return pick(v, s, out_shape, source)


def _split(ctx, outs):
    v, s = val(ctx, 0)
    axis = norm_axis(ctx.attr("axis", 0), len(s))
    result, offset = [], 0
    for shape in outs:
        if shape is None:
            result.append(None)
            continue
        shape = concrete(shape)
        off = offset
        result.append(pick(v, s, shape, lambda o, off=off: o[:axis] + (o[axis] + off,) + o[axis + 1:]))
        offset += shape[axis]
    return result


_REDUCERS = {"ReduceSum": "Add", "ReduceProd": "Mul", "ReduceMax": "Max", "ReduceMin": "Min"}


def reduce_values(op: str, v, s, axes, keep: bool, out_shape):
    """ReduceSum / ReduceProd / ReduceMax / ReduceMin of a value over ``axes`` (a set)."""
    f = _REDUCERS.get(op)
    if f is None:
        raise Unknown(f"no value rule for {op}")
    if any(s[a] == 0 for a in axes):
        raise Unknown(f"{op} over an empty axis")
    groups: dict = {}
    for idx in indices(s):
        key = tuple(0 if k in axes else i for k, i in enumerate(idx) if keep or k not in axes)
        x = v[ravel(idx, s)]
        groups[key] = x if key not in groups else binary(f, groups[key], x)
    return tuple(groups[o] for o in indices(concrete(out_shape)))


def _reduce(ctx, outs):
    v, s = val(ctx, 0)
    axes = ctx.attr("axes")
    if axes is None and ctx.has(1):
        axes = ints(ctx, 1)
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return v
        axes = tuple(range(len(s)))
    return reduce_values(ctx.op, v, s, {norm_axis(a, len(s)) for a in axes}, bool(ctx.attr("keepdims", 1)), outs[0])


def _onehot(ctx, outs):
    iv, s = val(ctx, 0)
    d = int_or_none(scalar(ctx, 1))
    off, on = val(ctx, 2)[0]
    axis = ctx.attr("axis", -1)
    if len(s) != 1 or axis not in (-1, 1) or d is None:
        raise Unknown("OneHot values only for 1-D indices on the last axis")
    concrete(outs[0])
    out = []
    for i in iv:
        i = int_or_none(i)
        if i is None:
            raise Unknown("a symbolic index")
        out += [on if (i + d if i < 0 else i) == j else off for j in range(d)]
    return tuple(out)


VALUE_RULES: dict = {
    # elementwise with broadcasting
    **{op: _elementwise for op in (
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "Clip",
    )},
    "Where": _where,
    **{op: _unary for op in ("Not", "Neg", "Abs", "Sign", "Floor", "Ceil", "Round", "Sqrt", "Reciprocal", "Relu")},
    "Identity": _identity,
    "Dropout": _identity,
    "Cast": _cast,
    # shapes and their values
    "Shape": _shape,
    "Size": _size,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Gather": gather_values,
    "GatherElements": _gather_elements,
    "GatherND": _gather_nd,
    "ScatterElements": _scatter_elements,
    "ScatterND": _scatter_elements,
    "Unsqueeze": _same_values,
    "Squeeze": _same_values,
    "Reshape": _same_values,
    "Flatten": _same_values,
    "Expand": _expand,
    "Tile": _tile,
    "Concat": concat_values,
    "Slice": _slice,
    "Transpose": _transpose,
    "Split": _split,
    "OneHot": _onehot,
    **{op: _reduce for op in _REDUCERS},
}
