"""What a model's names may not do to a terminal or a CI log, in one place.

A name (a node, a tensor, a ``dim_param``, a Keras layer, a TFLite tensor, a file name) is shown
escaped: control characters, ESC, ``\\r``, ``\\n``, line and paragraph separators, bidi controls,
other invisible format characters and the surrogates that stand for undecodable file-name bytes
become ``\\x1b``, ``\\u2028``, ``\\xff``…, and a backslash becomes ``\\\\`` so that no two names
escape alike. :func:`name` is applied once, where a model is loaded (``lint.load``) and to file
names, so every format -- text, JSON, SARIF, GitHub, markdown, and ``contract``, ``explain``,
``fix`` -- shows the same escaped names, and a name can never start a line of its own. A name of
``limits.MAX_NAME_CHARS`` characters or more (escaped) is shown shortened, with a hash of the whole
name, so that a 1 MB name in a file does not make megabytes of every message that quotes it.

:func:`output` is the last step of every human-readable output: whatever reached it, no
character that moves the cursor or reorders text is printed, and no line begins with ``::`` (a
GitHub Actions workflow command) unless shapelint wrote it as one (``commands=True`` lines).
"""

from __future__ import annotations

import hashlib
import re

from .limits import MAX_NAME_CHARS

_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _char(c: str) -> str:
    o = ord(c)
    if c in _SHORT:
        return _SHORT[c]
    if 0xDC80 <= o <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


class _Table(dict):
    """str.translate's table: a code point -> how it is shown, worked out when first met (kept
    for the BMP: at most 65,536 entries)."""

    def __init__(self, backslash: bool):
        super().__init__()
        self.backslash = backslash

    def __missing__(self, o: int) -> str:
        c = chr(o)
        shown = c if c.isprintable() and (c != "\\" or not self.backslash) else _char(c)
        if o < 0x10000:
            self[o] = shown
        return shown


_NAME, _LINE = _Table(backslash=True), _Table(backslash=False)


def name(s: str) -> str:
    """``s`` with every character that is not printable, and the backslash, escaped; shortened
    when it is MAX_NAME_CHARS long or longer (its first characters, then ``…#`` and a hash of the
    whole). Injective (but for a hash collision), and the identity on ordinary names (checked
    first, in C)."""
    if not s.isprintable() or "\\" in s:
        s = s.translate(_NAME)
    if len(s) >= MAX_NAME_CHARS:
        digest = hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        s = f"{s[:MAX_NAME_CHARS - 18]}…#{digest}"
    return s


def line(s: str) -> str:
    """``s`` as one line: every non-printable character escaped (the backslash kept as it is:
    for messages that were composed of escaped names already)."""
    if s.isprintable():
        return s
    return s.translate(_LINE)


# C0 controls but \n and \t, DEL and C1, the soft hyphen, bidi marks and embeddings/isolates,
# zero-width characters, line/paragraph separators, BOM, interlinear annotations, surrogates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                     "\ufeff\ufff9-\ufffb\ud800-\udfff]")


def output(text: str, commands: bool = False) -> str:
    """``text`` safe to print: newlines and tabs kept, every other unsafe character escaped, and a
    line that begins with ``::`` (after blanks) has its first colon escaped (``\\x3a:``) -- except,
    with ``commands``, lines shapelint wrote as workflow commands (``::error file=…``)."""
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(lambda m: _char(m.group()), text)
    if "::" not in text:
        return text
    out = []
    for ln in text.split("\n"):
        stripped = ln.lstrip(" \t")
        if stripped.startswith("::") and not (commands and ln.startswith("::") and _is_ours(ln)):
            ln = ln[: len(ln) - len(stripped)] + "\\x3a" + stripped[1:]
        out.append(ln)
    return "\n".join(out)


_OURS = re.compile(r"^::(error|warning|notice)( [a-zA-Z]+=[^:]*)?::")


def json_text(text: str) -> str:
    """JSON written by ``json.dumps(…, ensure_ascii=False)`` with every unsafe character left in
    it (in a string: JSON has them nowhere else) written as a JSON escape, ``\\u0085``: then
    :func:`output` finds nothing to change, and the JSON stays valid (its ``\\x85`` would not be)."""
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _is_ours(ln: str) -> bool:
    return bool(_OURS.match(ln))


_SGR = re.compile("\x1b\\[(?:0|1;31|1;33|36)m")  # the colours report.COLOURS writes, and the reset


class SafeStream:
    """A text stream whose every write goes through :func:`output`, with the state a line start
    needs across writes (``print`` writes its text and its ``end`` separately). The command line
    wraps stdout and stderr in it, so no code path -- including a new one -- prints a name raw.
    Exempt: shapelint's own colour codes, a write that is exactly ``"\\r"`` (``print(…, end="\\r")``:
    the progress line), and with ``commands`` the workflow-command lines ``--format github`` writes."""

    def __init__(self, stream, commands: bool = False):
        self.stream = stream
        self.commands = commands
        self._line_start = True

    def write(self, s: str) -> int:
        if s == "\r":
            self._line_start = True
            return self.stream.write(s)
        parts = _SGR.split(s)
        codes = _SGR.findall(s)
        safe = []
        for k, part in enumerate(parts):
            safe.append(self._safe(part))
            if k < len(codes):
                safe.append(codes[k])
        return self.stream.write("".join(safe))

    def _safe(self, part: str) -> str:
        if not part:
            return part
        prefix = "\n" if self._line_start else "x"  # judge the first line as a line start, or not
        text = output(prefix + part, self.commands)[1:]
        self._line_start = part.endswith("\n")
        return text

    def __getattr__(self, attr):  # flush, fileno, isatty, encoding, errors, reconfigure, buffer…
        return getattr(self.stream, attr)
