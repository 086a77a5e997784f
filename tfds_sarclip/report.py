"""The build report: every record kept or skipped, counted per source, split and reason.

A build never stops on one bad record; it ends with `build_report.json` beside the dataset
files. A source whose every record was bad is the one thing that fails the build, because it
means the source's layout or files are wrong, not that a few files are damaged.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from etils import epath

from sarclip_jax.data.formats.caption_csv import AnnotationFileError  # noqa: F401  (raised by the parsers)
from sarclip_jax.data.label_ambiguity import LabelAmbiguity
from tfds_sarclip.caption_stats import CaptionStats

REPORT_NAME = "build_report.json"
FAILED_NAME = "build_report.failed.json"
MAX_EXAMPLES_PER_REASON = 5

# Reasons a record is skipped (free text is allowed; these are the ones the builders use).
MISSING_FILE = "missing_file"
UNREADABLE = "unreadable_image"
EMPTY_CAPTION = "empty_caption"
BAD_BANDS = "wrong_band_count"
BAD_ANNOTATION = "bad_annotation"
OUTSIDE_ROOT = "path_outside_root"  # an annotation's path leads out of the dataset root
DUPLICATE = "duplicate_record"  # a second record with the key of one already written
OUTSIDE_PROTOCOL = "outside_protocol"  # a readable record the source's standard protocol leaves out


class AllRecordsBadError(RuntimeError):
    """A source produced no usable record; the message names it and its reasons."""


class BuildReport:
    def __init__(self):
        self.kept: collections.Counter = collections.Counter()  # (source, split) -> n
        self.skipped: collections.Counter = collections.Counter()  # (source, split, reason) -> n
        self.examples: dict[tuple[str, str], list[str]] = collections.defaultdict(list)  # (source, reason)
        self.messages: list[str] = []
        self.caption_stats: dict[tuple[str, str], CaptionStats] = collections.defaultdict(CaptionStats)
        self.label_stats: dict[tuple[str, str], LabelAmbiguity] = collections.defaultdict(LabelAmbiguity)

    def keep(self, source: str, split: str, captions=(), label: str = "", objects=()) -> None:
        """A record written; its captions feed the repeated-caption statistics and its label and
        object classes the label-ambiguity ones (per source and split, and per split over all
        sources, as training mixes them)."""
        self.kept[(source, split)] += 1
        if captions:
            self.caption_stats[(source, split)].add(captions)
            self.caption_stats[("", split)].add(captions)
        if label and objects:
            self.label_stats[(source, split)].add(label, objects)
            self.label_stats[("", split)].add(label, objects)

    def skip(self, source: str, split: str, reason: str, item: str, detail: str = "") -> None:
        self.skipped[(source, split, reason)] += 1
        shown = self.examples[(source, reason)]
        if len(shown) < MAX_EXAMPLES_PER_REASON:
            shown.append(detail if detail.startswith(item) else f"{item}: {detail}" if detail else item)

    def note(self, message: str) -> None:
        """Free-form lines such as 'source X absent from manual_dir, skipped'."""
        self.messages.append(message)

    def sources(self) -> list[str]:
        return sorted({s for s, _ in self.kept} | {s for s, _, _ in self.skipped})

    def all_bad_sources(self) -> list[str]:
        return [s for s in self.sources()
                if not any(n for (src, _), n in self.kept.items() if src == s)
                and any(n for (src, _, _), n in self.skipped.items() if src == s)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sources": {}, "messages": list(self.messages)}
        for source in self.sources():
            kept = {split: n for (s, split), n in sorted(self.kept.items()) if s == source}
            skipped: dict[str, dict[str, int]] = collections.defaultdict(dict)
            for (s, split, reason), n in sorted(self.skipped.items()):
                if s == source:
                    skipped[split][reason] = n
            out["sources"][source] = {
                "captions": {split: st.summary() for (s, split), st in sorted(self.caption_stats.items())
                             if s == source},
                "labels": {split: st.summary() for (s, split), st in sorted(self.label_stats.items()) if s == source},
                "kept": kept,
                "skipped": dict(skipped),
                "kept_total": sum(kept.values()),
                "skipped_total": sum(sum(r.values()) for r in skipped.values()),
                "examples": {reason: list(ex) for (s, reason), ex in sorted(self.examples.items()) if s == source},
            }
        out["captions"] = {split: st.summary() for (s, split), st in sorted(self.caption_stats.items()) if s == ""}
        out["labels"] = {split: st.summary() for (s, split), st in sorted(self.label_stats.items()) if s == ""}
        out["kept_total"] = sum(self.kept.values())
        out["skipped_total"] = sum(self.skipped.values())
        return out

    def write(self, directory: epath.PathLike, name: str = REPORT_NAME) -> epath.Path:
        path = epath.Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    def check(self) -> None:
        bad = self.all_bad_sources()
        if bad:
            info = self.to_dict()["sources"]
            detail = "; ".join(f"{s}: {info[s]['skipped']} e.g. {info[s]['examples']}" for s in bad)
            raise AllRecordsBadError(f"every record of source(s) {', '.join(bad)} was bad ({detail})")


def read_report(dataset_dir: epath.PathLike) -> dict[str, Any]:
    return json.loads((epath.Path(dataset_dir) / REPORT_NAME).read_text())


class ReportingBuilder:
    """Mixin for TFDS builders: a fresh report per build, written beside the data on success and
    as FAILED_NAME beside the version folders when a source had no good record."""

    def _download_and_prepare(self, dl_manager, download_config):
        self._report = BuildReport()
        try:
            super()._download_and_prepare(dl_manager, download_config)
            self._report.check()
        except AllRecordsBadError:
            self._report.write(epath.Path(self.data_path).parent, FAILED_NAME)
            raise
        self._report.write(self.data_path)  # the temporary directory, renamed into place on success
