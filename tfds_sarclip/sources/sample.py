"""SAMPLE (Synthetic and Measured Paired Labeled Experiment), public release layout:

    SAMPLE_dataset_public/png_images/{decibel,qpm}/{real,synth}/<class>/
        <class>_{real,synth}_A_elevDeg_<elev>_azCenter_<az>_22_serial_<sn>.png

10 vehicle classes (2s1, bmp2, btr70, m1, m2, m35, m548, m60, t72, zsu23); both 8-bit renderings
(decibel and qpm) are read, so each pose appears up to four times (two renderings of the measured
chip and of its synthetic twin; the record's sensor names which). Checked against the real file
listing (docs/data.md "SAMPLE"); the PNG pixels themselves were not inspected.

Split as the SAMPLE experiments do: measured chips at 17 degrees elevation are the test set, chips
at 14-16 degrees (measured and synthetic) train. Synthetic 17-degree chips are rendered from the
test poses, so they are reported as `outside_protocol` rather than trained on. The complex .mat
files are not read.
"""

from __future__ import annotations

import re

from etils import epath

from sarclip_jax.data.formats import paths
from sarclip_jax.text import prompts
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common

NAME = "sample"
TEST_ELEVATION = 17
_ELEV = re.compile(r"elevDeg_(\d+)", re.IGNORECASE)
NOUNS = prompts.caption_nouns(prompts.SAMPLE_CLASSES)


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sample"])


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    pngs = common.child(root, "png_images")
    if pngs is None:
        return
    for f in paths.walk_files(pngs):
        parts = f.relative_to(pngs).parts  # variant, real|synth, class, file
        if f.suffix.lower() != ".png" or len(parts) != 4:
            continue
        variant, kind, cls = parts[0].lower(), parts[1].lower(), parts[2].lower()
        m = _ELEV.search(f.name)
        at_test_elevation = bool(m) and int(m.group(1)) == TEST_ELEVATION
        problem = ""
        if at_test_elevation and kind != "real":
            if split != "train":
                continue
            problem = f"synthetic chip at {TEST_ELEVATION} degrees: the twin of a measured test chip"
        elif ("test" if at_test_elevation else "train") != split:
            continue
        yield common.record(NAME, root, f, f.read_bytes, seed=seed, label=cls, objects=[(cls, common.CENTRE_BOX)],
                            nouns=NOUNS, polarisation="HH",
                            sensor=f"SAMPLE {'measured (MSTAR)' if kind == 'real' else 'synthetic'}, {variant}",
                            problem=problem, problem_reason=report_lib.OUTSIDE_PROTOCOL if problem else "")
