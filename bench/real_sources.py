"""Runs the SARCLIP-1M source parsers over real files and prints what they make of them.

    python bench/real_sources.py --source opensarship=/data/OpenSARShip --source mstar=/data/MSTAR

For every source: records kept and skipped per split and reason (every image is decoded, as a
build would), with one example per reason. For OpenSARShip dual-pol chips also the band-order
check of docs/data.md: the median over a 4-pixel border (open sea around the ship) of each stored
band, and in how many chips band 0 (VV) is brighter than band 1 (VH), as co-pol sea clutter is.
Nothing is written.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
from etils import epath

from tfds_sarclip import features, sources
from tfds_sarclip import report as report_lib


def border_median(band: np.ndarray, width: int = 4) -> float:
    edges = [band[:width], band[-width:], band[:, :width], band[:, -width:]]
    return float(np.median(np.concatenate([e.ravel() for e in edges])))


def check(parser, root: epath.Path, complex_slc: bool) -> None:
    notes: list[str] = []
    options = sources.common.Options(complex_slc=complex_slc, note=notes.append)
    report = report_lib.BuildReport()
    ratios, polarisations = [], collections.Counter()
    for split in ("train", "validation", "test"):
        for raw in parser.records(root, split, options):
            try:
                example = features.to_example(raw)
            except features.RecordError as e:
                report.skip(raw.source, split, e.reason, raw.image_id, e.detail)
                continue
            report.keep(raw.source, split)
            polarisations[(example["polarisation"], raw.sensor)] += 1
            if parser.NAME == "opensarship" and example["polarisation"] == "VV,VH":
                image = raw.load()
                ratios.append(border_median(image[..., 0]) / max(border_median(image[..., 1]), 1e-12))
    info = report.to_dict()["sources"].get(parser.NAME, {"kept": {}, "skipped": {}, "examples": {}})
    print(f"{parser.NAME} ({root}): kept {info['kept']}, skipped {info['skipped']}")
    for reason, examples in info["examples"].items():
        print(f"  {reason}: e.g. {examples[0]}")
    for (pol, sensor), n in sorted(polarisations.items()):
        print(f"  {n} records: polarisation {pol or '(unknown)'}, {sensor}")
    if ratios:
        r = np.asarray(ratios)
        print(f"  dual-pol band order: VV/VH sea-border median ratio {np.median(r):.1f} (median over chips); "
              f"VV brighter in {(r > 1).sum()} of {r.size} chips")
    for note in notes:
        print(f"  note: {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = list(sources.MODULES)
    ap.add_argument("--source", action="append", required=True, metavar="NAME=DIR",
                    help=f"a parser ({', '.join(names)}) and the folder of its real files")
    ap.add_argument("--complex-slc", action="store_true", help="read OpenSARShip SLC chips as complex I/Q")
    args = ap.parse_args()
    parsers = {p.__name__.rsplit(".", 1)[-1]: p for p in sources.all_parsers()}
    for item in args.source:
        name, _, folder = item.partition("=")
        if name not in parsers or not folder:
            ap.error(f"--source {item!r}: expected NAME=DIR with NAME one of {names}")
        check(parsers[name], epath.Path(folder), args.complex_slc)


if __name__ == "__main__":
    main()
