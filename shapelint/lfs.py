"""Git LFS pointer files: what a hook or a CI job gets instead of the model when ``git lfs pull``
has not run (or Git LFS is not installed).

A pointer is a small text file (Git LFS spec v1)::

    version https://git-lfs.github.com/spec/v1
    oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393
    size 12345

``version`` comes first, the other keys (``ext-…``, ``oid``, ``size``) follow sorted, and Git LFS
never treats a blob of 1024 bytes or more as a pointer. So only a regular file under 1 KB can be
one, and deciding costs one ``stat`` and at most one read of under 1 KB; a model file is never
read here.
"""

from __future__ import annotations

import os
import re
import stat

MAX_POINTER_BYTES = 1024  # Git LFS: a blob of this size or more is never a pointer

NOTE = "Git LFS pointer, not the model: run git lfs pull"

# the current spec URL, and the two older ones Git LFS still accepts
_VERSIONS = (b"https://git-lfs.github.com/spec/v1", b"https://hawser.github.com/spec/v1",
             b"http://git-media.io/v/2")
_OID = re.compile(rb"oid sha256:[0-9a-f]{64}")
_SIZE = re.compile(rb"size [0-9]+")


def is_lfs_pointer(path) -> bool:
    """True when ``path`` is a Git LFS pointer file (a regular file under 1 KB that starts with the
    ``version`` line and has an ``oid sha256:…`` and a ``size …`` line); False for anything else,
    including a path that does not exist or cannot be read."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size >= MAX_POINTER_BYTES:
            return False
        with open(path, "rb") as f:
            head = f.read(MAX_POINTER_BYTES)
    except (OSError, ValueError):
        return False
    if not head.startswith(b"version "):
        return False
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")]
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or lines[0][len(b"version "):] not in _VERSIONS:
        return False
    return any(_OID.fullmatch(line) for line in lines[1:]) and any(_SIZE.fullmatch(line) for line in lines[1:])


def pointer_file(path) -> str | None:
    """The Git LFS pointer standing in for the model at ``path``, or None.

    ``path`` is what ``lint.collect`` yields: a model file, or a SavedModel folder or its
    ``saved_model.pb`` — for a SavedModel the file checked is its ``saved_model.pb``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "saved_model.pb")
    return path if is_lfs_pointer(path) else None
