"""Reading and writing the files that are not models (configurations, baselines, reports, plots)
safely: bounded reads of regular files only, and writes that replace a regular file atomically or
refuse.

Read: the file is opened without blocking (a FIFO does not hang), must be a regular file, and is
refused above its limit before a byte is read (a link to ``/dev/zero`` is refused, not read).

Write (the policy docs/hardening.md states):

- a new path, or an existing regular file: written to a temporary file in the same folder, then
  renamed over it (``os.replace``): never a partial file;
- a symbolic link: its target is written the same way if the target is a regular file or does
  not exist yet (the link stays a link); a link to anything else is refused;
- a device node, a FIFO, a socket or a folder: refused, nothing written.
"""

from __future__ import annotations

import os
import stat
import tempfile

from .errors import UsageError


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused (UsageError naming the limit) above ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise UsageError(f"{path}: cannot read the {what}: {e.strerror or e}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: the {what} is not a regular file ({_kind(st.st_mode)})")
        if st.st_size > limit:
            raise UsageError(f"{path}: the {what} is {st.st_size:,} bytes, over the limit of {limit:,} "
                             f"(shapelint.limits)")
        chunks, total = [], 0
        while True:  # a file that grows while read is still bounded
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UsageError(f"{path}: the {what} is over the limit of {limit:,} bytes (shapelint.limits)")
        return b"".join(chunks)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the {what}: {e.strerror or e}")
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def writable_target(dest: str, what: str) -> str:
    """The path to replace when writing ``dest`` (a link's target), or UsageError per the policy."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return dest
    except OSError as e:
        raise UsageError(f"{dest}: cannot write the {what}: {e.strerror or e}")
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(dest)
        try:
            tst = os.stat(target)
        except FileNotFoundError:
            return target
        except OSError as e:
            raise UsageError(f"{dest}: cannot write the {what}: {e.strerror or e}")
        if not stat.S_ISREG(tst.st_mode):
            raise UsageError(f"{dest}: refusing to write the {what}: it is a link to {_kind(tst.st_mode)}")
        return target
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{dest}: refusing to write the {what}: it is {_kind(st.st_mode)}, not a regular file")
    return dest


def write_atomic(dest: str, data: bytes, what: str) -> None:
    """Write ``data`` to ``dest`` per the policy above: all of it or nothing."""
    write_with(dest, what, lambda f: f.write(data))


def write_with(dest: str, what: str, writer) -> None:
    """``writer(f)`` writes the content into a binary file ``f``; ``dest`` gets all of it or nothing,
    per the policy above (for content too large to build in memory first)."""
    target = writable_target(dest, what)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".shapelint-", dir=folder)
    except OSError as e:
        raise UsageError(f"{dest}: cannot write the {what}: {e.strerror or e}")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        try:  # keep an existing file's permissions
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as e:
        _unlink(tmp)
        raise UsageError(f"{dest}: cannot write the {what}: {e.strerror or e}")
    except BaseException:
        _unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def inside(path: str, root: str) -> bool:
    """Whether ``path`` resolves (links followed) to ``root`` or something below it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)
