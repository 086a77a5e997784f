"""Zero-shot classification sets in ImageFolder layout (MSTAR SOC, FUSAR-Ship, SAR-VSA, or any).

    sarclip data build sar_zeroshot/mstar_soc --manual_dir /data/MSTAR_SOC_test --data_dir ~/tfds
    source = tfds.data_source("sar_zeroshot/mstar_soc", split="test", data_dir=...)
    class_names = source.dataset_info.features["label"].names   # sorted folder names

manual_dir is the ImageFolder root (`<class>/<image>` or `<split>/<class>/<image>`; folders
holding a single folder are looked through, so TARGETS/TEST/15_DEG/<class>/SN_<serial>/ trees and
FUSAR-Ship's <category>/<subcategory>/ read as shipped). Integer images are stored as display
products; float images get the config's `float_scale` (MSTAR magnitude is amplitude). Files that
are not images are skipped and reported. `mstar_soc` also holds the SOC protocol: a test chip at
another depression than 15 degrees, or of a non-SOC serial (BMP2 other than 9563, T72 other than
132, ...), is reported as `outside_protocol`, judged from NN_DEG / SN_<serial> folders and raw
chips' headers.
"""

from __future__ import annotations

import dataclasses
import re

import tensorflow_datasets as tfds
from etils import epath

from sarclip_jax.data import sar_radiometry
from sarclip_jax.data.formats import imagefolder, mstar
from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import mstar as mstar_source

_CONDITION_FOLDER = re.compile(r"^\d+_?DEG$", re.IGNORECASE)


@dataclasses.dataclass(eq=False)
class ZeroShotConfig(tfds.core.BuilderConfig):
    float_scale: str = "amplitude"


class Builder(report_lib.ReportingBuilder, tfds.core.GeneratorBasedBuilder):
    """SAR zero-shot test sets in ImageFolder layout."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "ImageFolder configs.",
                     "1.1.0": "single-folder wrappers looked through; mstar_soc holds SOC depressions and serials."}
    BUILDER_CONFIGS = [
        ZeroShotConfig(name="folder", description="any ImageFolder tree; float images taken as amplitude"),
        ZeroShotConfig(name="mstar_soc", description="MSTAR SOC test set: 10 target classes"),
        ZeroShotConfig(name="fusar_ship", description="FUSAR-Ship classes"),
        ZeroShotConfig(name="sar_vsa", description="SAR-VSA classes"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Point manual_dir at the ImageFolder root: <class>/<image> or <split>/<class>/<image>."

    def _info(self) -> tfds.core.DatasetInfo:
        spec = {**features.image_features(), "label": tfds.features.ClassLabel()}
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(spec))

    def _split_generators(self, dl_manager):
        if self.builder_config.float_scale not in sar_radiometry.SCALES:
            raise ValueError(f"sar_zeroshot/{self.builder_config.name}: float_scale must be one of "
                             f"{sar_radiometry.SCALES}, got {self.builder_config.float_scale!r}")
        root = epath.Path(dl_manager.manual_dir)
        names = imagefolder.class_names(root)
        conditions = [n for n in names if _CONDITION_FOLDER.match(n)]
        if conditions:
            raise ValueError(f"sar_zeroshot/{self.builder_config.name}: the class folders under {root} include "
                             f"depression folders {conditions}; point manual_dir at one depression's folder "
                             "(e.g. .../TEST/15_DEG) or at a tree with one depression folder per split")
        self.info.features["label"].names = names
        source = self.builder_config.name
        protocol = mstar_source.outside_soc if source == "mstar_soc" else None
        return features.nonempty_splits({split: self._generate_examples(folder_records(
            folder, root, source, self.builder_config.float_scale, mstar.load_any, split, self._report, protocol),
            split)
            for split, folder in imagefolder.layout(root).items()}, self._report)

    def _generate_examples(self, records, split):
        def label(raw):
            return {"label": raw.label}

        yield from features.generate(records, split, self._report, with_captions=False, extra=label)


def folder_records(split_root: epath.Path, root: epath.Path, source: str, float_scale: str, loader, split: str, report,
                   protocol=None):
    """RawRecords for one split; `loader(path)` returns the file's bytes or a decoded array.
    Files that cannot be images (by name) are reported as `not_an_image` and skipped; with
    `protocol(path, rel_parts, split)` -> reason, files it rules out as `outside_protocol`."""
    for label, path in imagefolder.files(split_root):
        rel = str(path.relative_to(root))
        if not imagefolder.is_candidate(path):
            report.skip(source, split, imagefolder.NOT_AN_IMAGE, rel)
            continue
        why = protocol(path, path.relative_to(root).parts, split) if protocol else ""
        if why:
            report.skip(source, split, report_lib.OUTSIDE_PROTOCOL, rel, why)
            continue
        yield features.RawRecord(source=source, image_id=rel, load=lambda p=path: loader(p), scale="auto",
                                 float_scale=float_scale, label=label)
