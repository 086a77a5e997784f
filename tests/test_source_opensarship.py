"""OpenSARShip parser on the fixture scenes, which reproduce the real distribution's structure
(one 2-sample float32 Patch_Cal TIFF per dual-pol chip, VH first; Ship.xml; SNAP metadata)."""

import shutil

import numpy as np
import pytest
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, fixtures, opensarship

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "OpenSARShip_2.0"


def parse(root=ROOT, **options):
    notes = []
    report = report_lib.BuildReport()
    raws = list(opensarship.records(epath.Path(root), "train", common.Options(note=notes.append, **options)))
    examples = {}
    for raw in raws:
        try:
            examples[raw.image_id.rsplit("/", 1)[-1]] = (raw, features.to_example(raw))
        except features.RecordError as e:
            report.skip(raw.source, "train", e.reason, raw.image_id, e.detail)
    return examples, report, notes


def border_median(band, width=4):
    return np.median(np.concatenate([band[:width].ravel(), band[-width:].ravel(),
                                     band[:, :width].ravel(), band[:, -width:].ravel()]))


def test_dual_pol_chips_are_one_file_reordered_to_vv_vh():
    examples, _, notes = parse()
    raw, example = examples["Cargo_x100_y200"]
    image = sar_readers.decode_image_bytes(example["image"])
    stored = sar_readers.read_image(next(ROOT.glob("*/*/Patch_Cal/Cargo_x100_y200.tif")))
    assert stored.shape == (25, 25, 2) and image.shape == (25, 25, 2)
    np.testing.assert_array_equal(image[..., 0], stored[..., 1])  # file band 1 is VV
    np.testing.assert_array_equal(image[..., 1], stored[..., 0])
    assert example["polarisation"] == "VV,VH" and example["scale"] == "intensity"
    # Sea clutter: co-pol (VV) returns ~10x more than cross-pol (VH), as in the real chips.
    ratio = border_median(image[..., 0]) / border_median(image[..., 1])
    assert 4 <= ratio <= 25, ratio
    assert raw.sensor == "Sentinel-1 IW GRD"
    assert not notes  # Metedata.xml has "-" polarisations, the product name (1SDV) settles them


def test_labels_and_lengths_come_from_ship_xml():
    examples, _, _ = parse()
    cargo, _ = examples["Cargo_x100_y200"]
    assert cargo.label == "container ship"  # Elaborated_type, finer than the file's "Cargo"
    assert any("208 m container ship" in c for c in cargo.captions)
    other, _ = examples["Other Type_x300_y50"]  # Elaborated_type "NA", length 0: the prefix, no length
    assert other.label == "other type" and all(" m " not in c and "ship" in c for c in other.captions)
    single, example = examples["Cargo_x40_y60"]  # its Ship.xml ends with <\ShipList>
    assert single.label == "general cargo" and any("120 m general cargo ship" in c for c in single.captions)
    assert example["polarisation"] == "VV" and sar_readers.decode_image_bytes(example["image"]).ndim == 2
    tanker, _ = examples["Tanker_x500_y700"]  # AIS length 0: MarineTraffic's length overall instead
    assert tanker.label == "oil products tanker" and any("184 m oil products tanker" in c for c in tanker.captions)


def test_a_cut_chip_is_reported_by_name():
    examples, report, _ = parse()
    assert "Tanker_x10_y10" not in examples
    info = report.to_dict()["sources"]["opensarship"]
    assert info["skipped"] == {"train": {report_lib.UNREADABLE: 1}}
    assert "Tanker_x10_y10" in info["examples"][report_lib.UNREADABLE][0]
    assert len(examples) == fixtures.EXPECTED["opensarship"]["train"]


def test_slc_scenes_are_marked_and_can_give_complex_chips():
    examples, _, _ = parse()
    detected, example = examples["Tanker_x500_y700"]
    assert detected.sensor == "Sentinel-1 IW SLC (slant range)" and example["polarisation"] == "VV,VH"
    calibrated = sar_readers.decode_image_bytes(example["image"])
    complex_examples, _, _ = parse(complex_slc=True)
    raw, example = complex_examples["Tanker_x500_y700"]
    slc = sar_readers.decode_image_bytes(example["image"])
    assert slc.dtype == np.complex64 and slc.shape == (25, 25, 2) and example["scale"] == "complex"
    assert raw.image_id.endswith("Patch/Tanker_x500_y700")
    # Patch_Cal = (I^2 + Q^2) / K band by band: the I/Q pairs were matched to the right polarisation.
    k = (np.abs(slc) ** 2 / calibrated).reshape(-1, 2)
    np.testing.assert_allclose(k, np.median(k), rtol=1e-4)
    # GRD chips have no complex form and stay calibrated intensity.
    assert complex_examples["Cargo_x100_y200"][1]["scale"] == "intensity"


def test_per_band_files_of_user_conversions_still_read(tmp_path):
    scene = tmp_path / "OpenSARShip" / fixtures.OSS_GRD_DUAL / "Patch_Cal"
    scene.mkdir(parents=True)
    vv, vh = fixtures.sea_chip(9, 1, ("VV",)), fixtures.sea_chip(9, 2, ("VH",))
    (scene / "Cargo_x5_y5_vv.tif").write_bytes(sar_readers.encode_tiff(vv))
    (scene / "Cargo_x5_y5_vh.tif").write_bytes(sar_readers.encode_tiff(vh))
    examples, _, notes = parse(tmp_path / "OpenSARShip")
    _, example = examples["Cargo_x5_y5"]
    image = sar_readers.decode_image_bytes(example["image"])
    np.testing.assert_array_equal(image, np.stack([vv, vh], axis=-1))
    assert example["polarisation"] == "VV,VH"
    assert any("no Ship.xml" in n for n in notes)


def test_a_damaged_ship_xml_leaves_file_name_labels_and_a_note(tmp_path):
    root = tmp_path / "OpenSARShip"
    shutil.copytree(ROOT / fixtures.OSS_GRD_SINGLE, root / fixtures.OSS_GRD_SINGLE)
    (root / fixtures.OSS_GRD_SINGLE / "Ship.xml").write_text("<ShipList><ship><SARShipInformation>")
    examples, _, notes = parse(root)
    assert examples["Cargo_x40_y60"][0].label == "cargo"
    assert any("Ship.xml: not readable as XML" in n for n in notes)


@pytest.mark.parametrize("product,metadata,expected", [
    ("S1A_IW_GRDH_1SDV_X", {}, ("VH", "VV")),
    ("S1B_IW_GRDH_1SSV_X", {}, ("VV",)),
    ("S1A_EW_GRDM_1SDH_X", {}, ("HV", "HH")),
    ("S1A_IW_SLC__1SSH_X", {}, ("HH",)),
    ("S1A_IW_SLC__1SSV_X", {"mds1_tx_rx_polar": "VV", "mds2_tx_rx_polar": "VV"}, ("VV",)),
    ("", {"mds1_tx_rx_polar": "VH", "mds2_tx_rx_polar": "VV", "mds3_tx_rx_polar": "-"}, ("VH", "VV")),
    ("not a product", {"mds1_tx_rx_polar": "-"}, ()),
])
def test_polarisations_from_metadata_then_product_code(product, metadata, expected):
    assert opensarship.polarisations(product, metadata) == expected
