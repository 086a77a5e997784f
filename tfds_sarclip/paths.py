"""Directory walking through etils.epath (its `rglob('**')` is refused on cloud paths)."""

from __future__ import annotations

from collections.abc import Iterator

from etils import epath


def walk_files(root: epath.PathLike) -> Iterator[epath.Path]:
    """Every non-hidden file under `root`, depth first, in sorted order (deterministic builds)."""
    stack = [epath.Path(root)]
    while stack:
        folder = stack.pop()
        entries = sorted(folder.iterdir(), key=lambda p: p.name, reverse=True)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stack.append(entry)
        for entry in reversed(entries):
            if not entry.name.startswith(".") and not entry.is_dir():
                yield entry
