"""Leave-one-source-out: configs/sarclip1m.py:holdout=SOURCE drops the source from training and
scores it zero-shot on its own test records."""

import ml_collections
import numpy as np
import pytest
from etils import epath

from sarclip_jax.config_loading import load_config
from sarclip_jax.data import pipeline as P
from sarclip_jax.data import records, sar_augment, sar_transforms
from sarclip_jax.evaluation import sources
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import fixtures

REPO = epath.Path(__file__).parent.parent
SOURCES = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources"


@pytest.fixture(scope="module")
def built(sources_build):
    return str(sources_build.data_dir_root)


def test_the_config_leaves_the_source_out_and_adds_its_job():
    c = load_config(f"{REPO / 'configs' / 'sarclip1m.py'}:dataset=sarclip1m/sources,holdout=mstar")
    assert list(c.data.exclude_sources) == ["mstar"]
    job = c.evals.mstar_zero_shot
    assert (job.kind, job.source, job.classes, job.dataset) == ("zero_shot", "mstar", "mstar", "sarclip1m/sources")
    assert not load_config(f"{REPO / 'configs' / 'sarclip1m.py'}").data.exclude_sources


def test_training_never_sees_the_held_out_source(built):
    cfg = P.PipelineConfig(dataset="sarclip1m/sources", data_dir=built, image_size=32,
                           augment=sar_augment.Augment(speckle_prob=0.0), exclude_sources=("mstar",))
    src = P.data_source(cfg, "train")
    kinds = [records.text_of(src[i]["source"]) for i in range(len(src))]
    assert kinds.count("mstar") == fixtures.EXPECTED["mstar"]["train"]
    keep = [i for i, k in enumerate(kinds) if k != "mstar"]
    expected = {sar_transforms.image_for_model(src[i], 32, cfg.radiometry, None).round(4).tobytes() for i in keep}
    batch = next(P.train_iterator(src, cfg, len(keep), seed=1))  # exactly one epoch of what is left
    assert {img.round(4).tobytes() for img in batch["image"]} == expected


def test_the_source_scan_reads_the_same_names_as_the_decoded_records(built):
    cfg = P.PipelineConfig(dataset="sarclip1m/sources", data_dir=built, image_size=32)
    for split in ("train", "test[1:]"):
        src = P.data_source(cfg, split)
        assert type(src).__name__ == "ArrayRecordDataSource"  # the raw-bytes path
        decoded = [records.text_of(src[i]["source"]) for i in range(len(src))]
        assert len(set(decoded)) > 1  # several sources, so that order matters
        assert list(P.source_names(src, chunk=3)) == decoded
    listed = [{"source": b"mstar"}, {"source": "sample"}, {}]  # any indexable source of records
    assert list(P.source_names(listed)) == ["mstar", "sample", ""]
    np.testing.assert_array_equal(P.source_indices(src, ("mstar",)), [i for i, n in enumerate(decoded) if n == "mstar"])


def test_the_zero_shot_job_reads_only_that_source(built):
    cfg = ml_collections.ConfigDict(dict(dataset="sarclip1m/sources", split="test", data_dir=built, source="mstar",
                                         classes="mstar"))
    data = sources.open_set(cfg, "label")
    assert len(data.items) == fixtures.EXPECTED["mstar"]["test"]
    assert sorted(data.class_names[item.label] for item in data.items) == ["D7", "ZSU234"]
    np.testing.assert_equal(len(data.class_names), 10)
