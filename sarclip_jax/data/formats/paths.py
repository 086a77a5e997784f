"""Paths inside datasets: directory walking through etils.epath (its `rglob('**')` is refused on
cloud paths), and containment: a path named by a dataset's own files (a CSV `imgpath`, a COCO
`file_name`) must stay inside the dataset's root.

Containment is checked on the real path: `..` segments are normalised and, on local disks,
symbolic links followed, so neither an absolute path, a `..` nor a link can lead out of the root.
Cloud paths (gs://) have no links; they are normalised lexically.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator

from etils import epath


class OutsideRootError(ValueError):
    """A path from a dataset's files that leads outside the dataset's root."""


def real(path: epath.PathLike) -> str:
    text = os.fspath(path)
    if "://" not in text:
        return os.path.realpath(text)
    scheme, rest = text.split("://", 1)
    return f"{scheme}://{posixpath.normpath('/' + rest).lstrip('/')}"


def is_inside(path: epath.PathLike, roots: Iterable[epath.PathLike]) -> bool:
    target = real(path)
    for root in roots:
        base = real(root).rstrip("/")
        if target == base or target.startswith(base + "/"):
            return True
    return False


def join_inside(root: epath.Path, *parts: str) -> epath.Path:
    """root / parts, refused (OutsideRootError) if that leads outside `root`."""
    path = root.joinpath(*parts)
    if not is_inside(path, [root]):
        raise OutsideRootError(f"{'/'.join(parts)!r} leads outside the dataset root {root}")
    return path


def walk_files(root: epath.PathLike) -> Iterator[epath.Path]:
    """Every non-hidden file under `root`, depth first, in sorted order (deterministic builds).
    A linked folder already walked (a link loop) is not entered again."""
    stack, seen = [epath.Path(root)], set()
    while stack:
        folder = stack.pop()
        key = real(folder)
        if key in seen:
            continue
        seen.add(key)
        entries = sorted(folder.iterdir(), key=lambda p: p.name, reverse=True)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stack.append(entry)
        for entry in reversed(entries):
            if not entry.name.startswith(".") and not entry.is_dir():
                yield entry
