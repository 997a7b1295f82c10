"""Exact integer expressions for tensor dims, and decisions about them.

A dim is an ``int``, ``None`` (unknown) or an :class:`Expr`: an integer linear combination of
*atoms* plus a constant. Atoms are input symbols (``H``), floor divisions by a positive
constant, products of atoms, and ``max``/``min``/broadcast of two expressions. Constructors
keep a canonical form, so equal expressions built along different routes often compare equal
structurally; when they do not, :func:`solve` with :class:`EqualPred` decides equality exactly by
residue classes:

    with every symbol written ``x = M·q + r`` (``M`` the product of the divisors on each path),
    every expression becomes, per residue class ``r``, a polynomial in ``q`` with integer
    coefficients -- exactly, for every integer ``q`` -- apart from ``max``/``min``/broadcast,
    which are settled for ``q`` beyond a computable threshold; below it we evaluate concretely.

Nothing here guesses: what cannot be decided raises :class:`Undecidable`.
"""

from __future__ import annotations

from . import limits

import math
from dataclasses import dataclass
from functools import lru_cache, reduce
from typing import Iterable, Mapping, Union

Dim = Union[int, "Expr", None]
_NAME = __import__("re").compile(r"[A-Za-z_][A-Za-z0-9_.]*(\[\d+\])?")


class Undecidable(Exception):
    """An exact answer is out of reach (too many residue classes, several symbols at once)."""


class Invalid(Exception):
    """A concrete evaluation hit a broadcast of two different sizes, neither of them 1."""


# --------------------------------------------------------------------------- atoms


def _cached_hash(fields):
    """A __hash__ equal to the dataclass one (the hash of the tuple of ``fields``), computed once
    per object: expressions are deep, and dicts keyed by them hash them again and again."""

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f) for f in fields))
            object.__setattr__(self, "_hash", h)
        return h

    return __hash__


def _cached_str(fn):
    """``fn`` (a __str__) computed once per object: an expression is printed again and again (each
    finding, each message), and deep ones cost milliseconds."""

    def __str__(self):
        text = self.__dict__.get("_str")
        if text is None:
            text = fn(self)
            if len(text) <= 4096:  # (every level of an expression nested 10,000 deep keeping its text: O(n²))
                object.__setattr__(self, "_str", text)
        return text

    return __str__


def _getstate(self):
    # the cached hash is this process's (str hashes are salted per process): never pickled
    return {k: v for k, v in self.__dict__.items() if k != "_hash"}


@dataclass(frozen=True)
class Sym:
    name: str

    def __str__(self) -> str:
        return display_name(self.name)


@lru_cache(maxsize=4096)
def display_name(name: str) -> str:
    """A symbol as printed: as is when it reads as a name (H, p2o.DynamicDimension.1, x[2]),
    else quoted, so that a dim_param such as "H+1" or "2" is not mistaken for arithmetic."""
    if _NAME.fullmatch(name):
        return name
    return "‹" + name.replace("›", "") + "›"


@dataclass(frozen=True)
class Floor:
    """floor(num / den), den > 1."""

    __hash__ = _cached_hash(("num", "den"))
    __getstate__ = _getstate

    num: "Expr"
    den: int

    @_cached_str
    def __str__(self) -> str:
        # floor((e + d-1)/d) reads better as ceil(e/d)
        if self.num.const % self.den == self.den - 1 and self.den > 1:
            inner = self.num - (self.den - 1)
            return f"ceil({_paren(inner)}/{self.den})"
        return f"floor({_paren(self.num)}/{self.den})"


@dataclass(frozen=True)
class Prod:
    factors: tuple  # sorted tuple of atoms, length >= 2

    __hash__ = _cached_hash(("factors",))
    __getstate__ = _getstate

    @_cached_str
    def __str__(self) -> str:
        return "·".join(_paren_atom(f) for f in self.factors)


@dataclass(frozen=True)
class MinMax:
    kind: str  # "max", "min" or "bcast"
    a: "Expr"
    b: "Expr"

    __hash__ = _cached_hash(("kind", "a", "b"))
    __getstate__ = _getstate

    @_cached_str
    def __str__(self) -> str:
        return f"{self.kind}({self.a}, {self.b})"


Atom = Union[Sym, Floor, Prod, MinMax]


@lru_cache(maxsize=65536)
def _akey(a: Atom) -> str:
    return f"{type(a).__name__}:{a}"


def _paren(e: "Expr") -> str:
    s = str(e)
    return f"({s})" if len(e.terms) + (e.const != 0) > 1 or e.terms and e.terms[0][1] != 1 and e.const else s


def _paren_atom(a: Atom) -> str:
    return f"({a})" if isinstance(a, Prod) else str(a)


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr:
    """sum(coeff · atom) + const, terms sorted and non-zero, at least one term."""

    __hash__ = _cached_hash(("terms", "const"))
    __getstate__ = _getstate

    terms: tuple  # ((atom, coeff), ...)
    const: int = 0

    # arithmetic --------------------------------------------------------------
    def __add__(self, o):
        return add(self, o)

    __radd__ = __add__

    def __sub__(self, o):
        return add(self, neg(o))

    def __rsub__(self, o):
        return add(o, neg(self))

    def __mul__(self, o):
        return mul(self, o)

    __rmul__ = __mul__

    def __neg__(self):
        return neg(self)

    @_cached_str
    def __str__(self) -> str:
        parts = []
        for atom, c in self.terms:
            a = _paren_atom(atom)
            if isinstance(atom, Floor) and all(k < 0 for _, k in atom.num.terms):
                # −floor(−e/d) is ceil(e/d): 80·ceil(L/80) rather than -80·floor(-L/80)
                a, c = f"ceil({_paren(neg(atom.num))}/{atom.den})", -c
            if c == 1:
                parts.append(("+", a))
            elif c == -1:
                parts.append(("-", a))
            elif c > 0:
                parts.append(("+", f"{c}·{a}"))
            else:
                parts.append(("-", f"{-c}·{a}"))
        if self.const or not parts:
            parts.append(("+" if self.const >= 0 else "-", str(abs(self.const))))
        out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, p in parts[1:]:
            out += f" {sign} {p}"
        return out

    def symbols(self) -> frozenset:
        return _symbols(self)


def _lin(d: Dim) -> tuple[dict, int]:
    if isinstance(d, int):
        return {}, d
    return {a: c for a, c in d.terms}, d.const


def _make(terms: Mapping, const: int) -> Union[int, Expr]:
    items = tuple(sorted(((a, c) for a, c in terms.items() if c), key=lambda t: _akey(t[0])))
    if not items:
        return int(const)
    return Expr(items, int(const))


def sym(name: str) -> Expr:
    return Expr(((Sym(name), 1),), 0)


def atom_expr(a: Atom) -> Expr:
    return Expr(((a, 1),), 0)


def add(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if isinstance(b, int):  # the common case (a conv's pads): the terms stay as they are
        return Expr(a.terms, a.const + b) if b else a
    if isinstance(a, int):
        return Expr(b.terms, b.const + a) if a else b
    ta, ca = _lin(a)
    tb, cb = _lin(b)
    for k, v in tb.items():
        ta[k] = ta.get(k, 0) + v
    return _make(ta, ca + cb)


def neg(a: Dim) -> Dim:
    if isinstance(a, Expr):
        return Expr(tuple((t, -c) for t, c in a.terms), -a.const)
    return mul(a, -1)


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, neg(b))


def _atom_factors(a: Atom) -> tuple:
    return a.factors if isinstance(a, Prod) else (a,)


def _atom_mul(a: Atom, b: Atom) -> Atom:
    fs = tuple(sorted(_atom_factors(a) + _atom_factors(b), key=_akey))
    return Prod(fs)


def mul(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if isinstance(b, int):
        a, b = b, a
    if isinstance(a, int):
        if a == 0:
            return 0
        return _make({k: v * a for k, v in b.terms}, b.const * a)
    ta, ca = _lin(a)
    tb, cb = _lin(b)
    out: dict = {}
    for x, cx in ta.items():
        for y, cy in tb.items():
            k = _atom_mul(x, y)
            out[k] = out.get(k, 0) + cx * cy
        out[x] = out.get(x, 0) + cx * cb
    for y, cy in tb.items():
        out[y] = out.get(y, 0) + cy * ca
    return _make(out, ca * cb)


def floordiv(a: Dim, d: int) -> Dim:
    """floor(a / d) for a positive integer d, kept exact and canonical."""
    if a is None:
        return None
    if d <= 0:
        raise ValueError(f"floordiv by {d}")
    if isinstance(a, int):
        return a // d
    if d == 1:
        return a
    terms, const = _lin(a)
    # pull out the parts divisible by d: floor((d·x + y)/d) = x + floor(y/d)
    whole = {k: v // d for k, v in terms.items() if v % d == 0}
    rest = {k: v for k, v in terms.items() if v % d}
    out_const = const // d
    const = const % d
    if not rest:
        return add(_make(whole, 0), out_const)
    # floor(floor(e/a) + c) / b) = floor((e + a·c) / (a·b)) when floor(e/a) has coefficient 1
    if len(rest) == 1:
        (atom, coeff), = rest.items()
        if isinstance(atom, Floor) and coeff == 1:
            inner = add(atom.num, atom.den * const)
            return add(add(_make(whole, 0), out_const), floordiv(inner, atom.den * d))
    g = reduce(math.gcd, rest.values(), d)
    g = math.gcd(g, const) if const else g
    if g > 1:
        rest = {k: v // g for k, v in rest.items()}
        const //= g
        d //= g
    if d == 1:
        inner = _make(rest, const)
        return add(add(_make(whole, 0), out_const), inner)
    f = Floor(_make(rest, const), d)  # type: ignore[arg-type]
    if isinstance(f.num, int):  # pragma: no cover - rest is non-empty
        return add(_make(whole, 0), out_const + f.num // d)
    return add(add(_make(whole, 0), out_const), atom_expr(f))


def ceildiv(a: Dim, d: int) -> Dim:
    """ceil(a / d) = floor((a + d - 1) / d)."""
    if a is None:
        return None
    return floordiv(add(a, d - 1), d)


def mod(a: Dim, d: int) -> Dim:
    if a is None:
        return None
    return sub(a, mul(floordiv(a, d), d))


def _minmax(kind: str, a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        if kind == "max":
            return max(a, b)
        if kind == "min":
            return min(a, b)
        return bcast_int(a, b)
    if a == b:
        return a
    if kind == "bcast":
        if a == 1:
            return b
        if b == 1:
            return a
    diff = sub(a, b)
    if isinstance(diff, int):  # settled by the constant difference
        if kind == "max":
            return a if diff >= 0 else b
        if kind == "min":
            return b if diff >= 0 else a
    x, y = sorted((a, b), key=lambda e: str(e))
    # ints are stored inside the atom as constant-only Exprs
    return atom_expr(MinMax(kind, _as_expr(x), _as_expr(y)))


def _as_expr(x) -> Expr:
    if isinstance(x, Expr):
        return x
    return Expr((), int(x))


def maximum(a: Dim, b: Dim) -> Dim:
    return _minmax("max", a, b)


def minimum(a: Dim, b: Dim) -> Dim:
    return _minmax("min", a, b)


def bcast(a: Dim, b: Dim) -> Dim:
    """numpy broadcast of two dims: equal, or one of them 1."""
    return _minmax("bcast", a, b)


def bcast_int(a: int, b: int) -> int:
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    raise Invalid(f"{a} vs {b}")


# --------------------------------------------------------------------------- queries


@lru_cache(maxsize=1 << 16)  # expressions hash once (see _cached_hash): a deep one is walked once
def _symbols(e) -> frozenset:
    if isinstance(e, int) or e is None:
        return frozenset()
    if isinstance(e, Expr):
        out: set = set()
        for a, _ in e.terms:
            out |= _symbols(a)
        return frozenset(out)
    if isinstance(e, Sym):
        return frozenset((e.name,))
    if isinstance(e, Floor):
        return _symbols(e.num)
    if isinstance(e, Prod):
        return frozenset().union(*(_symbols(f) for f in e.factors))
    if isinstance(e, MinMax):
        return _symbols(e.a) | _symbols(e.b)
    raise TypeError(type(e))


def has_bcast(e) -> bool:
    """Whether a broadcast of two sizes (a merge upstream) is part of the expression."""
    if isinstance(e, Expr):
        return any(has_bcast(a) for a, _ in e.terms)
    if isinstance(e, Floor):
        return has_bcast(e.num)
    if isinstance(e, Prod):
        return any(has_bcast(f) for f in e.factors)
    if isinstance(e, MinMax):
        return e.kind == "bcast" or has_bcast(e.a) or has_bcast(e.b)
    return False


def symbols(*dims: Dim) -> frozenset:
    return frozenset().union(*(_symbols(d) for d in dims))


def evaluate(e, env: Mapping[str, int], _memo: dict | None = None) -> int:
    """Concrete value at ``env``; raises :class:`Invalid` for an impossible broadcast."""
    if isinstance(e, int):
        return e
    memo = {} if _memo is None else _memo
    key = id(e)
    hit = memo.get(key)
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Expr):
        v = e.const + sum(c * evaluate(a, env, memo) for a, c in e.terms)
    elif isinstance(e, Sym):
        v = env[e.name]
    elif isinstance(e, Floor):
        v = evaluate(e.num, env, memo) // e.den
    elif isinstance(e, Prod):
        v = math.prod(evaluate(f, env, memo) for f in e.factors)
    elif isinstance(e, MinMax):
        x, y = evaluate(e.a, env, memo), evaluate(e.b, env, memo)
        v = max(x, y) if e.kind == "max" else min(x, y) if e.kind == "min" else bcast_int(x, y)
    else:
        raise TypeError(type(e))
    memo[key] = (e, v)
    return v


class Mark:
    """What :func:`evaluate` raises at one size, as a value of :func:`evaluate_many`."""

    __slots__ = ("missing",)

    def __init__(self, missing: str | None):
        self.missing = missing  # None: Invalid; else the symbol that is not in the environment

    def exception(self) -> Exception:
        return Invalid("broadcast of two different sizes") if self.missing is None else KeyError(self.missing)


INVALID = Mark(None)


def _vec_op(x, y, f):
    """f elementwise over two vectors (or scalars): at each size the first mark wins, as the
    first exception raised does in :func:`evaluate`."""
    if not isinstance(x, list) and not isinstance(y, list):
        if type(x) is Mark:
            return x
        if type(y) is Mark:
            return y
        return f(x, y)
    n = len(x) if isinstance(x, list) else len(y)
    xs = x if isinstance(x, list) else [x] * n
    ys = y if isinstance(y, list) else [y] * n
    return [a if type(a) is Mark else b if type(b) is Mark else f(a, b) for a, b in zip(xs, ys)]


def _bcast_mark(a: int, b: int):
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    return INVALID


def evaluate_many(e, name: str, xs, memo: dict | None = None):
    """:func:`evaluate` of ``e`` at ``{name: x}`` for every x of ``xs`` at once: a list with, per
    x, the value or a :class:`Mark` for the exception :func:`evaluate` raises there (Invalid, or
    KeyError for a symbol other than ``name``). ``memo`` (keyed by id, holding the expression)
    may be shared between calls with the same ``name`` and ``xs``."""
    xs = list(xs)
    v, _clean = _vec(e, name, xs, {} if memo is None else memo)
    return v if isinstance(v, list) else [v] * len(xs)


def _fast(x, y, f):
    """f elementwise over two mark-free vectors (or scalars)."""
    if isinstance(x, list):
        if isinstance(y, list):
            return list(map(f, x, y))
        return [f(a, y) for a in x]
    if isinstance(y, list):
        return [f(x, b) for b in y]
    return f(x, y)


def _vec(e, name: str, xs: list, memo: dict):
    """(value, no mark in it): the value is an int or a mark (the same at every x) or a list."""
    if isinstance(e, int):
        return e, True
    key = id(e)
    hit = memo.get(key)
    if hit is not None and hit[0] is e:
        return hit[1], hit[2]
    if isinstance(e, Expr):
        v, clean = e.const, True
        for a, c in e.terms:
            w, wc = _vec(a, name, xs, memo)
            if clean and wc:
                if isinstance(w, list):
                    v = [p + c * q for p, q in zip(v, w)] if isinstance(v, list) else [v + c * q for q in w]
                elif isinstance(v, list):
                    k = c * w
                    v = [p + k for p in v]
                else:
                    v = v + c * w
            else:
                v, clean = _vec_op(v, w, lambda p, q, c=c: p + c * q), False
    elif isinstance(e, Sym):
        v, clean = (list(xs), True) if e.name == name else (Mark(e.name), False)
    elif isinstance(e, Floor):
        w, clean = _vec(e.num, name, xs, memo)
        d = e.den
        if clean:
            v = [t // d for t in w] if isinstance(w, list) else w // d
        elif isinstance(w, list):
            v = [t if type(t) is Mark else t // d for t in w]
        else:
            v = w
    elif isinstance(e, Prod):
        v, clean = 1, True
        for f in e.factors:
            w, wc = _vec(f, name, xs, memo)
            if clean and wc:
                v = _fast(v, w, lambda p, q: p * q)
            else:
                v, clean = _vec_op(v, w, lambda p, q: p * q), False
    elif isinstance(e, MinMax):
        (x, xc), (y, yc) = _vec(e.a, name, xs, memo), _vec(e.b, name, xs, memo)
        f = max if e.kind == "max" else min if e.kind == "min" else _bcast_mark
        if xc and yc:
            v = _fast(x, y, f)
            clean = e.kind != "bcast" or not (v is INVALID or isinstance(v, list) and INVALID in v)
        else:
            v, clean = _vec_op(x, y, f), False
    else:
        raise TypeError(type(e))
    memo[key] = (e, v, clean)
    return v, clean


def modulus(e, name: str) -> int:
    """The period M in ``name`` such that e is a polynomial in q per class of name = M·q + r."""
    if isinstance(e, int) or e is None:
        return 1
    if isinstance(e, Expr):
        return reduce(math.lcm, (modulus(a, name) for a, _ in e.terms), 1)
    if isinstance(e, Sym):
        return 1
    if isinstance(e, Floor):
        return e.den * modulus(e.num, name) if name in _symbols(e.num) else 1
    if isinstance(e, Prod):
        return reduce(math.lcm, (modulus(f, name) for f in e.factors), 1)
    if isinstance(e, MinMax):
        return math.lcm(modulus(e.a, name), modulus(e.b, name))
    raise TypeError(type(e))


# ----------------------------------------------------- polynomials per residue class

# A polynomial over the q of each symbol: {monomial (sorted tuple of names): coeff}.
Poly = dict


def _padd(p: Poly, r: Poly, k: int = 1) -> Poly:
    out = dict(p)
    for m, c in r.items():
        out[m] = out.get(m, 0) + k * c
        if out[m] == 0:
            del out[m]
    return out


def _pmul(p: Poly, r: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in r.items():
            m = tuple(sorted(m1 + m2))
            out[m] = out.get(m, 0) + c1 * c2
    return {m: c for m, c in out.items() if c}


_CLASS_MEMO: dict = {}  # residue classes -> {id(expr): (expr, poly, threshold of its subtree)}
_CLASS_MEMO_MAX = 1 << 18  # entries in all; beyond, the memo starts again
_class_memo_size = 0


class _ClassEval:
    """Evaluates expressions as polynomials for one residue class of every symbol.

    ``cls`` maps a symbol to (M, r): the symbol is M·q + r. Max/min/broadcast are settled for
    large q; ``threshold`` collects the symbol value above which each such decision holds.

    A polynomial depends only on the expression and the classes, so it is remembered across
    evaluators of the same classes, with the threshold its subexpressions raise (a running
    maximum, so adding it again on a hit is what evaluating it again would do).
    """

    def __init__(self, cls: Mapping[str, tuple[int, int]]):
        global _class_memo_size
        self.cls = cls
        self.threshold = 0
        if _class_memo_size > _CLASS_MEMO_MAX:
            _CLASS_MEMO.clear()
            _class_memo_size = 0
        self.memo: dict = _CLASS_MEMO.setdefault(tuple(sorted(cls.items())), {})

    def poly(self, e) -> Poly:
        global _class_memo_size
        if isinstance(e, int):
            return {(): e} if e else {}
        key = id(e)
        hit = self.memo.get(key)
        if hit is not None and hit[0] is e:
            if hit[2] > self.threshold:
                self.threshold = hit[2]
            return hit[1]
        outer = self.threshold
        self.threshold = 0
        try:
            p = self._poly(e)
        finally:
            own = self.threshold
            self.threshold = max(outer, own)
        self.memo[key] = (e, p, own)
        _class_memo_size += 1
        return p

    def _poly(self, e) -> Poly:
        if isinstance(e, Expr):  # the sum of the terms, zeros dropped at the end (as _padd would)
            p: Poly = {(): e.const} if e.const else {}
            for a, c in e.terms:
                for m, v in self.poly(a).items():
                    p[m] = p.get(m, 0) + c * v
            if 0 in p.values():
                p = {m: v for m, v in p.items() if v}
        elif isinstance(e, Sym):
            M, r = self.cls[e.name]
            p = _padd({(e.name,): M}, {(): r}) if r else {(e.name,): M}
        elif isinstance(e, Floor):
            num = self.poly(e.num)
            const = num.get((), 0)
            if any(c % e.den for m, c in num.items() if m):
                raise Undecidable(f"floor of {e.num} by {e.den} is not exact at this modulus")
            p = {m: c // e.den for m, c in num.items() if m}
            if const // e.den:
                p[()] = const // e.den
        elif isinstance(e, Prod):
            p = {(): 1}
            for f in e.factors:
                p = _pmul(p, self.poly(f))
        elif isinstance(e, MinMax):
            pa, pb = self.poly(e.a), self.poly(e.b)
            p = self._settle(e.kind, pa, pb)
        else:
            raise TypeError(type(e))
        return p

    def _eventual_sign(self, p: Poly) -> int:
        """Sign of p for all large q, and raise the threshold to where it holds."""
        if not p:
            return 0
        if set(p) == {()}:
            return 1 if p[()] > 0 else -1
        names = {n for m in p for n in m}
        if len(names) != 1 or any(len(m) > 1 for m in p):
            raise Undecidable("a comparison that depends on more than one symbol or is not linear")
        (name,) = names
        a, b = p.get((name,), 0), p.get((), 0)
        M, r = self.cls[name]
        # a·q + b keeps its sign for q > -b/a
        q0 = (-b) // a + 1  # floor(-b/a) + 1, in integers
        self.threshold = max(self.threshold, M * q0 + r)
        return 1 if a > 0 else -1

    def _settle(self, kind: str, pa: Poly, pb: Poly) -> Poly:
        diff = _padd(pa, pb, -1)
        if kind == "bcast":
            if not diff:
                return pa
            # for large q the sides are only compatible when equal, or when one is constant 1
            if pa == {(): 1}:
                return pb
            if pb == {(): 1}:
                return pa
            # incompatible for large q: mark with a sentinel; comparisons then fail
            self._eventual_sign(_padd(pa, {(): -2}))
            self._eventual_sign(_padd(pb, {(): -2}))
            self._eventual_sign(diff)  # past the last size where the two sides can still be equal
            raise _Incompatible()
        s = self._eventual_sign(diff)
        if kind == "max":
            return pa if s >= 0 else pb
        return pb if s >= 0 else pa


class _Incompatible(Exception):
    pass


# --------------------------------------------------------------------------- sets of sizes


@dataclass(frozen=True)
class SizeSet:
    """A set of positive integers: explicit below ``start``, periodic from ``start`` on.

    ``small`` are the members in [1, start); from ``start`` on, x is a member iff
    x mod ``modulus`` is in ``residues``.
    """

    modulus: int
    residues: frozenset
    start: int
    small: frozenset

    def __contains__(self, x: int) -> bool:
        if x < self.start:
            return x in self.small
        return x % self.modulus in self.residues

    @staticmethod
    def everything() -> "SizeSet":
        return SizeSet(1, frozenset({0}), 1, frozenset())

    def is_everything(self) -> bool:
        return self.canonical() == SizeSet.everything()

    def is_empty(self) -> bool:
        return not self.residues and not self.small

    def intersect(self, o: "SizeSet") -> "SizeSet":
        M = math.lcm(self.modulus, o.modulus)
        start = max(self.start, o.start)
        res = frozenset(r for r in range(M) if (start + ((r - start) % M)) in self and (start + ((r - start) % M)) in o)
        small = frozenset(x for x in range(1, start) if x in self and x in o)
        return SizeSet(M, res, start, small).canonical()

    def canonical(self) -> "SizeSet":
        M, res, start = self.modulus, set(self.residues), self.start
        # smallest period
        for d in sorted(_divisors(M)):
            folded = {x % d for x in res}
            if all(((r % d) in folded) == (r in res) for r in range(M)):
                res = {r % d for r in res}
                M = d
                break
        # move start down while the periodic rule also explains the explicit members
        small = set(self.small)
        while start > 1 and ((start - 1) in small) == ((start - 1) % M in res):
            start -= 1
            small.discard(start)
        return SizeSet(M, frozenset(res), start, frozenset(small))

    def minimum(self) -> int | None:
        if self.small:
            return min(self.small)
        if not self.residues:
            return None
        return min(self.start + ((r - self.start) % self.modulus) for r in self.residues)

    def first_outside(self, other: "SizeSet") -> int | None:
        """The smallest x in self but not in other, or None when self ⊆ other."""
        limit = max(self.start, other.start) + math.lcm(self.modulus, other.modulus) + 1
        return next((x for x in range(1, limit + 1) if x in self and x not in other), None)

    def first_missing(self) -> int | None:
        x = 1
        limit = self.start + self.modulus + 1
        while x <= limit:
            if x not in self:
                return x
            x += 1
        return None

    def describe(self, name: str) -> str:
        name = display_name(name)
        s = self.canonical()
        if s.is_empty():
            return f"no {name}"
        if not s.residues:
            return f"{name} ∈ {{{_runs(sorted(s.small))}}}"
        parts = []
        lo = s.minimum()
        if s.modulus > 1 and len(s.residues) == 1:
            parts.append(f"{name} mod {s.modulus} = {next(iter(s.residues))}")
        elif s.modulus > 1:
            parts.append(f"{name} mod {s.modulus} ∈ {{{', '.join(map(str, sorted(s.residues)))}}}")
        tail_lo = s.tail_minimum()
        if s.small:
            parts.append(f"{name} ≥ {tail_lo}, or {name} ∈ {{{_runs(sorted(s.small))}}}")
        elif lo and lo > 1:
            parts.append(f"{name} ≥ {lo}")
        return ", ".join(parts) if parts else f"every {name} ≥ 1"

    def tail_minimum(self) -> int | None:
        """The smallest member of the periodic part (from ``start`` on)."""
        if not self.residues:
            return None
        return self.start + min((r - self.start) % self.modulus for r in self.residues)

def _runs(xs: list) -> str:
    """[1, 2, 3, 7] -> '1…3, 7'."""
    out, k = [], 0
    while k < len(xs):
        j = k
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[k]) if j == k else f"{xs[k]}…{xs[j]}" if j > k + 1 else f"{xs[k]}, {xs[j]}")
        k = j + 1
    return ", ".join(out)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


MAX_CLASSES = limits.MAX_RESIDUE_CLASSES  # residue classes per decision; beyond, undecided
MAX_CONCRETE = limits.MAX_CONCRETE_SIZES  # sizes evaluated one by one below the periodic regime


_SOLVED: dict = {}  # (dims, predicate class, name, low) -> SizeSet or the Undecidable message
_SOLVED_MAX = 1 << 14


def solve(pred_dims: Iterable, holds, name: str, low: int = 1) -> SizeSet:
    """The exact set of values x ≥ low of the symbol ``name`` for which ``holds`` is true.

    ``pred_dims`` are the expressions the predicate looks at (all in the one symbol ``name``);
    ``holds`` is a predicate (:class:`EqualPred`, :class:`BroadcastPred`, :class:`PositivePred`):
    its ``concrete`` method takes the dims' values, its ``symbolic`` method their polynomials per
    residue class. Large x are settled per residue class, small x by evaluation.

    The answer depends only on the dims, the predicate and ``name``/``low``: for the predicates
    of this module (stateless) it is remembered, so a graph that repeats a dim thousands of times
    solves it once.
    """
    dims = list(pred_dims)
    if type(holds) not in _STATELESS:
        return _solve(dims, holds, name, low)
    key = (tuple(dims), type(holds), name, low)
    hit = _SOLVED.get(key)
    if hit is None:
        hit = _solve_renamed(dims, holds, name, low)
        if hit is None:
            try:
                hit = _solve(dims, holds, name, low)
            except Undecidable as e:
                hit = str(e)
        if len(_SOLVED) >= _SOLVED_MAX:
            _SOLVED.clear()
        _SOLVED[key] = hit
    if isinstance(hit, str):
        raise Undecidable(hit)
    return hit


_ANON = "\x00"  # the one symbol of a solved predicate, renamed: H and W of the same structure meet


def _solve_renamed(dims: list, holds, name: str, low: int):
    """The answer for ``dims`` with ``name`` renamed to one fixed name, structure kept as is: the
    solution set does not depend on the symbol's name (it is a label in every step), so W solves
    what H solved. None when ``dims`` have another symbol, or when that raises (the message
    names the symbol: the caller solves ``dims`` themselves)."""
    try:
        anon = tuple(_rename(d, name) for d in dims)
    except _OtherSymbol:
        return None
    key = (anon, type(holds), _ANON, low)
    hit = _SOLVED.get(key)
    if hit is None:
        try:
            hit = _solve(list(anon), holds, _ANON, low)
        except Undecidable as e:
            hit = str(e)
        except KeyError:
            return None
        _SOLVED[key] = hit
    return None if isinstance(hit, str) else hit


class _OtherSymbol(Exception):
    pass


_RENAMED: dict = {}  # id(expr) -> (expr, symbol, renamed): shared subexpressions stay shared


def _rename(e, name: str):
    """``e`` with the symbol ``name`` renamed to _ANON, every term and operand where it was."""
    if isinstance(e, int):
        return e
    hit = _RENAMED.get(id(e))
    if hit is not None and hit[0] is e and hit[1] == name:
        return hit[2]
    if isinstance(e, Expr):
        out = Expr(tuple((_rename(a, name), c) for a, c in e.terms), e.const)
    elif isinstance(e, Sym):
        if e.name != name:
            raise _OtherSymbol(e.name)
        out = Sym(_ANON)
    elif isinstance(e, Floor):
        out = Floor(_rename(e.num, name), e.den)
    elif isinstance(e, Prod):
        out = Prod(tuple(_rename(f, name) for f in e.factors))
    elif isinstance(e, MinMax):
        out = MinMax(e.kind, _rename(e.a, name), _rename(e.b, name))
    else:
        raise TypeError(type(e))
    if len(_RENAMED) > _CLASS_MEMO_MAX:
        _RENAMED.clear()
    _RENAMED[id(e)] = (e, name, out)
    return out


def _solve(dims: list, holds, name: str, low: int) -> SizeSet:
    M = reduce(math.lcm, (modulus(d, name) for d in dims), 1)
    if M > MAX_CLASSES:
        raise Undecidable(f"{M} residue classes of {name}")
    residues = set()
    threshold = low
    exceptional: set = set()
    for r in range(M):
        ev = _ClassEval({name: (M, r)})
        try:
            polys = [ev.poly(d) for d in dims]
            verdict, roots = holds.symbolic(polys, name, ev)
        except _Incompatible:
            verdict, roots = False, ()
        threshold = max(threshold, ev.threshold)
        if verdict:
            residues.add(r)
        for q in roots:
            exceptional.add(M * q + r)
    # below the threshold everything is evaluated concretely; above it, the classes decide
    start = max(threshold, low) + 1
    if start > MAX_CONCRETE:
        raise Undecidable(f"the sizes settle only above {name} = {start}")
    small = set()
    if hasattr(holds, "concrete_many"):  # every size at once, with the same verdicts
        xs = range(max(1, low), start)
        small = {x for x, ok in zip(xs, holds.concrete_many(dims, name, xs)) if ok}
    else:
        for x in range(1, start):
            if x >= low and holds.concrete(dims, {name: x}):
                small.add(x)
    base = SizeSet(M, frozenset(residues), start, frozenset(small))
    extra = {x for x in exceptional if x >= start}
    if extra and max(extra) > MAX_CONCRETE:
        raise Undecidable(f"an isolated solution at {name} = {max(extra)}")
    if extra:  # isolated solutions of a non-constant difference above the threshold
        top = max(extra) + 1
        small = {x for x in range(1, top) if (x in base) or x in extra}
        base = SizeSet(M, frozenset(residues), top, frozenset(small))
    return base.canonical()


class EqualPred:
    """All dims equal (the non-axis dims of a Concat)."""

    def symbolic(self, polys, name, ev=None):
        first = polys[0]
        diffs = [_padd(p, first, -1) for p in polys[1:]]
        if all(not d for d in diffs):
            return True, ()
        roots = None
        for d in diffs:
            rs = _int_roots(d, name)
            roots = rs if roots is None else roots & rs
        return False, tuple(sorted(roots or ()))

    def concrete(self, dims, env):
        try:
            vals = {evaluate(d, env) for d in dims}
        except Invalid:
            return False
        return len(vals) == 1

    def concrete_many(self, dims, name, xs):
        return _verdicts(dims, name, xs, lambda vals: len(set(vals)) == 1)


def _verdicts(dims, name: str, xs, verdict, stop=None) -> list:
    """Per x of ``xs``, what ``concrete`` says at {name: x}: the dims are evaluated in order, and
    the first one that raises decides (Invalid: False; a missing symbol: KeyError, raised), as
    in the per-size code; ``stop(value)`` ends the walk early with False (``all``'s short cut)."""
    if not xs:
        return []
    memo: dict = {}
    vecs = [evaluate_many(d, name, xs, memo) for d in dims]
    out = []
    for k in range(len(xs)):
        vals = []
        ok = None
        for vec in vecs:
            t = vec[k]
            if type(t) is Mark:
                if t.missing is not None:
                    raise t.exception()
                ok = False
                break
            if stop is not None and stop(t):
                ok = False
                break
            vals.append(t)
        out.append(verdict(vals) if ok is None else ok)
    return out


class BroadcastPred:
    """numpy-broadcastable: all dims equal to one value or to 1."""

    def symbolic(self, polys, name, ev=None):
        non1 = [p for p in polys if p != {(): 1}]
        if not non1:
            return True, ()
        for p in non1:
            # a side that is 1 at some small size broadcasts there: settle only where all are ≥ 2
            if any(m for m in p):
                ev._eventual_sign(_padd(p, {(): -1}))
        return EqualPred().symbolic(non1, name, ev)

    def concrete(self, dims, env):
        try:
            vals = {evaluate(d, env) for d in dims} - {1}
        except Invalid:
            return False
        return len(vals) <= 1

    def concrete_many(self, dims, name, xs):
        return _verdicts(dims, name, xs, lambda vals: len(set(vals) - {1}) <= 1)


class PositivePred:
    """Every dim ≥ 1."""

    def symbolic(self, polys, name, ev):
        # an integer p is >= 1 iff p > 0; _eventual_sign records from where that holds
        return all(ev._eventual_sign(p) > 0 for p in polys), ()

    def concrete(self, dims, env):
        try:
            return all(evaluate(d, env) >= 1 for d in dims)
        except Invalid:
            return False

    def concrete_many(self, dims, name, xs):
        return _verdicts(dims, name, xs, lambda vals: True, stop=lambda v: v < 1)


_STATELESS = (EqualPred, BroadcastPred, PositivePred)


def _int_roots(p: Poly, name: str) -> set:
    if not p:
        return set()
    if any(len(m) > 1 or (m and m[0] != name) for m in p):
        raise Undecidable("non-linear difference")
    a, b = p.get((name,), 0), p.get((), 0)
    if a == 0:
        return set()
    if b % a == 0:
        return {-b // a}
    return set()


def fmt_dim(d: Dim) -> str:
    """A dim as messages print it: a number, an expression, or "?" when unknown."""
    return "?" if d is None else str(d)


def fmt_shape(shape) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join(fmt_dim(d) for d in shape) + "]"
