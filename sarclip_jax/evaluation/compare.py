"""Several checkpoints' headline metrics side by side (pure formatting)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sarclip_jax.evaluation.report import fmt


def side_by_side(columns: Mapping[str, Sequence[tuple[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) with one row per metric (first-seen order) and one column per checkpoint;
    a metric a checkpoint lacks (e.g. top-5 on fewer classes) shows as "–"."""
    names: list[str] = []
    for metrics in columns.values():
        names.extend(n for n, _ in metrics if n not in names)
    values = {label: dict(metrics) for label, metrics in columns.items()}
    rows = [[name] + [fmt(values[label].get(name)) for label in columns] for name in names]
    return ["metric", *columns], rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def column_labels(checkpoints: Sequence[str]) -> list[str]:
    """Short, unique column names: the last path part without a weight-file suffix; repeats get
    their position appended."""
    stems = []
    for c in checkpoints:
        stem = c.rstrip("/").rsplit("/", 1)[-1] or c
        for suffix in (".safetensors", ".pt", ".pth", ".bin"):
            if stem.endswith(suffix):
                stem = stem[:-len(suffix)]
        stems.append(stem)
    return [f"{s}#{i + 1}" if stems.count(s) > 1 else s for i, s in enumerate(stems)]
