"""SARCLIP-1M as a TFDS dataset, in three configs:

  synthetic  (default) SAR-like scenes with captions, generated here with no download
  release    the released CSV/TSV pairs plus their image folder, from --manual_dir
  sources    rebuilt from the source datasets (MSTAR, OpenSARShip, SARDet-100K, ...) in --manual_dir

Written as array_record with no TensorFlow and read back with `tfds.data_source`:

    builder = tfds.builder("sarclip1m/synthetic", data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    source = tfds.data_source("sarclip1m/synthetic", split="train", data_dir=data_dir)

Every build writes `build_report.json` beside the data: records kept and skipped per source,
split and reason. Synthetic sizes come from the config (`synthetic_config(num_train=...)`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from tfds_sarclip import captions as captions_lib
from tfds_sarclip import features, release, sources, synthetic
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common as source_common

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


@dataclasses.dataclass(eq=False)
class Sarclip1mConfig(tfds.core.BuilderConfig):
    kind: str = "synthetic"  # synthetic | release | sources
    # synthetic
    num_train: int = 4000
    num_validation: int = 500
    num_test: int = 500
    image_size: int = 128
    seed: int = 0
    float_fraction: float = 0.25  # share of scenes stored as float32 intensity (the rest 8-bit dB)
    secondary_prob: float = 0.5
    # release: the scale of float images (integer images are display products)
    float_scale: str = "amplitude"
    # sources: seed of the caption phrasing; complex SLC chips where a source has both (OpenSARShip)
    caption_seed: int = 0
    complex_slc: bool = False


def synthetic_config(num_train: int = 4000, num_validation: int = 500, num_test: int = 500, image_size: int = 128,
                     seed: int = 0, float_fraction: float = 0.25) -> Sarclip1mConfig:
    """A synthetic config whose name encodes its sizes, so differently sized builds never share a directory."""
    if not 32 <= image_size <= 512:
        raise ValueError(f"synthetic image_size must be in [32, 512], got {image_size}")
    if min(num_train, num_validation, num_test) < 1:
        raise ValueError("synthetic splits need at least one example each")
    if not 0.0 <= float_fraction <= 1.0:
        raise ValueError(f"synthetic float_fraction must be in [0, 1], got {float_fraction}")
    name = f"synthetic_{num_train}_{num_validation}_{num_test}_{image_size}px_s{seed}_f{round(float_fraction * 100)}"
    return Sarclip1mConfig(name=name, kind="synthetic", num_train=num_train, num_validation=num_validation,
                           num_test=num_test, image_size=image_size, seed=seed, float_fraction=float_fraction,
                           description=f"synthetic scenes {num_train}/{num_validation}/{num_test} at {image_size} px")


class Builder(report_lib.ReportingBuilder, tfds.core.GeneratorBasedBuilder):
    """SARCLIP-1M image-caption pairs."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Synthetic, release and sources configs.",
                     "1.1.0": "caption_kinds beside captions; source parsers held to the real distributions "
                              "(OpenSARShip dual-pol chips, MSTAR SOC, SAMPLE and FAIR-CSAR splits); sources_complex."}
    BUILDER_CONFIGS = [
        Sarclip1mConfig(name="synthetic", kind="synthetic",
                        description="4000/500/500 synthetic SAR scenes at 128 px with captions; no download"),
        Sarclip1mConfig(name="synthetic_tiny", kind="synthetic", num_train=96, num_validation=32, num_test=32,
                        image_size=64, description="a tiny synthetic set for smoke runs"),
        Sarclip1mConfig(name="release", kind="release",
                        description="the released SARCLIP-1M CSV/TSV and images, from --manual_dir"),
        Sarclip1mConfig(name="sources", kind="sources",
                        description="rebuilt from source SAR datasets placed in --manual_dir"),
        Sarclip1mConfig(name="sources_complex", kind="sources", complex_slc=True,
                        description="as sources, with OpenSARShip's SLC chips stored as complex I/Q data"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    release: put the released CSV/TSV files (train*.csv, test*.csv or retrieval*.csv) and the
      image folder they point to in manual_dir.
    sources: put each source dataset, as its own site distributes it, in a sub-folder of
      manual_dir (see tfds_sarclip/sources/*.py for the folder names each parser looks for).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        spec = {**features.image_features(), **features.caption_features()}
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(spec),
                                              homepage="https://arxiv.org/abs/2510.22665")

    # --- splits ---------------------------------------------------------------------------------

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        if cfg.kind == "synthetic":
            sizes = {"train": cfg.num_train, "validation": cfg.num_validation, "test": cfg.num_test}
            return {split: self._generate_examples(self._synthetic(split, n), split) for split, n in sizes.items()}
        manual_dir = epath.Path(dl_manager.manual_dir)
        if cfg.kind == "release":
            return features.nonempty_splits(self._release_splits(manual_dir), self._report)
        if cfg.kind == "sources":
            return features.nonempty_splits(self._source_splits(manual_dir), self._report)
        raise ValueError(f"unknown sarclip1m config kind {cfg.kind!r}")

    def _generate_examples(self, records, split):
        report = getattr(self, "_report", None) or report_lib.BuildReport()
        yield from features.generate(records, split, report)

    # --- synthetic ------------------------------------------------------------------------------

    def _synthetic(self, split: str, n: int):
        cfg = self.builder_config
        for index in range(n):
            rng = np.random.default_rng([cfg.seed, SPLIT_CODES[split], index])
            scene = synthetic.generate_scene(rng, cfg.image_size, cfg.secondary_prob)
            key = f"{split}/{index:07d}"
            stored_float = rng.random() < cfg.float_fraction
            array = scene.intensity if stored_float else synthetic.to_display_uint8(scene.intensity)
            record = features.RawRecord(
                source="synthetic", image_id=key, load=lambda a=array: a,
                scale="intensity" if stored_float else "display",
                captions=captions_lib.make_captions(captions_lib.Scene(scene.objects, scene.background),
                                                    cfg.seed, key),
                caption_kinds=list(captions_lib.KINDS),
                label=scene.objects[0][0], objects=scene.objects, polarisation="VV", sensor="synthetic",
                background=scene.background)
            yield record

    # --- release --------------------------------------------------------------------------------

    def _release_splits(self, manual_dir: epath.Path):
        csvs = release.find_csvs(manual_dir)
        if not csvs:
            raise FileNotFoundError(f"sarclip1m/release: no *.csv or *.tsv file in manual_dir {manual_dir}")
        held_out = release.test_keys(csvs.get("test", []))
        return {split: self._generate_examples(
            release.records(paths, manual_dir, split, self.builder_config.float_scale, held_out, self._report), split)
            for split, paths in csvs.items()}

    # --- sources --------------------------------------------------------------------------------

    def _source_splits(self, manual_dir: epath.Path):
        found = []
        for parser in sources.all_parsers():
            root = parser.find(manual_dir)
            if root is None:
                self._report.note(f"{parser.NAME}: not found in {manual_dir}, skipped")
            else:
                found.append((parser, root))
        if not found:
            raise FileNotFoundError(f"sarclip1m/sources: none of the sources "
                                    f"{[p.NAME for p in sources.all_parsers()]} was found in {manual_dir}")
        options = source_common.Options(seed=self.builder_config.caption_seed,
                                       complex_slc=self.builder_config.complex_slc, note=self._report.note)
        # Official test images of any source stay out of every source's train split (SARLANG-1M
        # reuses SARDet-100K images, for one).
        held_out = set()
        for parser, root in found:
            if hasattr(parser, "test_names"):
                held_out |= parser.test_names(root)

        def chain(split):
            for parser, root in found:
                for raw in parser.records(root, split, options):
                    if split != "test" and epath.Path(raw.image_id).name in held_out:
                        self._report.skip(raw.source, split, release.HELD_OUT, raw.image_id,
                                          "the file name of an official test image (of this or another source); "
                                          "kept out of training")
                        continue
                    yield raw

        return {split: self._generate_examples(chain(split), split) for split in ("train", "validation", "test")}
