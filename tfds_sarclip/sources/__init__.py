"""Parsers for the source datasets of SARCLIP-1M, one module per source, each reading the layout
its own distribution ships. Each module exposes:

    NAME: str
    find(manual_dir) -> epath.Path | None     # the source's root inside manual_dir, or None
    records(root, split, options) -> iterator of features.RawRecord   # split: train | validation | test;
                                              # options: common.Options (caption seed, complex_slc, note)
    test_names(root) -> set of file names     # optional: its official test images, which the
                                              # builder keeps out of every source's train split
"""

from __future__ import annotations

import importlib

from tfds_sarclip.sources import common  # noqa: F401  (Options, for callers of records())

# Order is the order sources are written in.
MODULES = ("mstar", "opensarship", "sardet", "sample", "atrnet_star", "fair_csar", "sarlang")


def all_parsers():
    return [importlib.import_module(f"tfds_sarclip.sources.{m}") for m in MODULES]
