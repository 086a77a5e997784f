"""sar_zeroshot builds from the layouts MSTAR SOC, FUSAR-Ship and SAR-VSA are shipped in."""

import pytest
import tensorflow_datasets as tfds

from tfds_sarclip import dummy_data_gen
from tfds_sarclip import report as report_lib
from tfds_sarclip.sar_zeroshot import sar_zeroshot_dataset_builder as zeroshot


def build(config, manual, out):
    b = zeroshot.Builder(config=config, data_dir=str(out))
    b.download_and_prepare(file_format="array_record",
                           download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return b


def labels(b, split):
    source = tfds.data_source(f"sar_zeroshot/{b.builder_config.name}", split=split, data_dir=b.data_dir_root)
    names = b.info.features["label"].names
    return sorted(names[source[i]["label"]] for i in range(len(source)))


def test_mstar_cd_tree_keeps_soc_serials_and_depressions(tmp_path):
    dummy_data_gen.mstar_cd_tree(tmp_path / "MSTAR")
    b = build("mstar_soc", tmp_path / "MSTAR", tmp_path / "out")
    assert b.info.features["label"].names == ["BMP2", "BTR70", "T72"]
    assert labels(b, "test") == ["BMP2", "BMP2", "BTR70", "BTR70", "T72"]
    assert labels(b, "train") == ["BMP2", "BMP2", "T72"]
    info = report_lib.read_report(b.data_dir)["sources"]["mstar_soc"]
    assert info["skipped"] == {"test": {report_lib.OUTSIDE_PROTOCOL: 1}}
    assert "serial C21: SOC's BMP2 is serial 9563" in info["examples"][report_lib.OUTSIDE_PROTOCOL][0]


def test_several_depressions_in_one_split_are_refused_with_advice(tmp_path):
    dummy_data_gen.mstar_cd_tree(tmp_path / "MSTAR")
    (tmp_path / "MSTAR/TARGETS/TEST/30_DEG/BMP2").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"depression folders \['15_DEG', '30_DEG'\].*TEST/15_DEG"):
        build("mstar_soc", tmp_path / "MSTAR/TARGETS/TEST", tmp_path / "out")


def test_fusar_ship_categories_are_the_classes(tmp_path):
    dummy_data_gen.fusar_ship_tree(tmp_path / "FUSAR")
    b = build("fusar_ship", tmp_path / "FUSAR", tmp_path / "out")
    assert b.info.features["label"].names == ["Cargo", "Fishing", "Tanker"]
    assert labels(b, "test") == ["Cargo", "Cargo", "Cargo", "Fishing", "Tanker"]  # meta.csv is no class


def test_sar_vsa_split_folders(tmp_path):
    dummy_data_gen.sar_vsa_tree(tmp_path / "VSA")
    b = build("sar_vsa", tmp_path / "VSA", tmp_path / "out")
    assert sorted(b.info.splits) == ["test", "train"]
    assert labels(b, "train") == ["airplane", "bridge", "oil_tank"]
