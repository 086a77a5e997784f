"""SAMPLE parser: measured 17-degree chips are the test set; their synthetic twins train nowhere."""

from etils import epath

from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, sample

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "SAMPLE_dataset_public"


def build(split):
    report = report_lib.BuildReport()
    kept = {key.rsplit("/", 1)[-1]: ex for key, ex in
            features.generate(sample.records(ROOT, split, common.Options()), split, report)}
    return kept, report.to_dict()["sources"].get("sample", {})


def test_splits_follow_the_sample_experiments():
    train, info = build("train")
    test, test_info = build("test")
    assert list(test) == ["t72_real_A_elevDeg_017_azCenter_011_77_serial_812.png"]
    assert test["t72_real_A_elevDeg_017_azCenter_011_77_serial_812.png"]["sensor"] == "SAMPLE measured (MSTAR), qpm"
    assert sorted(train) == ["2s1_real_A_elevDeg_015_azCenter_011_22_serial_b01.png",
                             "2s1_synth_A_elevDeg_015_azCenter_011_22_serial_b01.png",
                             "t72_real_A_elevDeg_016_azCenter_013_77_serial_812.png"]
    assert info["skipped"] == {"train": {report_lib.OUTSIDE_PROTOCOL: 1}} and not test_info.get("skipped")
    [example] = info["examples"][report_lib.OUTSIDE_PROTOCOL]
    assert "t72_synth_A_elevDeg_017" in example and "twin of a measured test chip" in example
