"""Tiny trees in each source's distributed layout, for tests (written by `dummy_data_gen`).

Every tree holds a few good records and deliberate bad ones; the expected counts are in
EXPECTED so tests compare against one place.
"""

from __future__ import annotations

import json

import numpy as np
from etils import epath

from sarclip_jax.data.formats import mstar
from tfds_sarclip import fixture_io as g

FAIR_STEM = "GF3_KAS_SL_028685_E139.7_N35.5_20220120_L1A_HH_L10000000001_00000_16050"
FAIR_TEST_STEM = "GF3_KAS_SL_030001_E121.5_N31.2_20220301_L1A_VV_L10000000002_00000_00001"

# source -> split -> number of good records the builder must keep
EXPECTED = {
    "mstar": {"train": 2, "test": 2},
    "opensarship": {"train": 2},
    "sardet100k": {"train": 2, "validation": 1, "test": 1},
    "sample": {"train": 2, "test": 1},
    "atrnet_star": {"train": 1, "test": 1},
    "fair_csar": {"train": 1, "test": 1},
    "sarlang1m": {"train": 2, "test": 1},
}
# source -> reason -> count of skipped records
EXPECTED_SKIPS = {
    "mstar": {"unreadable_image": 1},
    "opensarship": {"unreadable_image": 1},
    "sardet100k": {"missing_file": 1},
    "atrnet_star": {"bad_annotation": 1},
    "sarlang1m": {"held_out_in_test": 1, "empty_caption": 1},
}


def _chip(seed, size=24):
    mag = np.sqrt(g.speckled((size, size), seed)).astype(np.float32)
    return mag, np.zeros_like(mag)


def write_mstar(root: epath.Path) -> None:
    cd = root / "MSTAR_PUBLIC_MIXED_TARGETS_CD1"
    for rel, target, dep, seed in (("17_DEG/COL2/SCENE1/BRDM_2/HB14931.000", "brdm2_truck", "17", 1),
                                   ("15_DEG/COL2/SCENE1/D7/HB14932.001", "d7_bulldozer", "15", 2),
                                   ("17_DEG/COL2/SCENE1/SLICY/HB15000.017", "slicey", "17", 3)):
        g.write(cd / rel, mstar.write_phoenix({"TargetType": target, "DesiredDepression": dep,
                                               "TargetAz": "12.5"}, *_chip(seed)))
        g.write(cd / (rel + ".HDR"), "side file written by the MSTAR tools\n")
    cut = mstar.write_phoenix({"TargetType": "t72_tank", "DesiredDepression": "17"}, *_chip(4))
    g.write(cd / "17_DEG/COL2/SCENE1/T72/HB14999.015", cut[:-100])  # truncated chip
    g.write(root / "TRAIN/17_DEG/T62/HB19377.JPG", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 5))))
    g.write(root / "TEST/15_DEG/ZSU_23_4/HB19378.JPG", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 6))))


def write_opensarship(root: epath.Path) -> None:
    scene = root / "S1A_IW_GRDH_1SDV_20160101T000000_scene1"
    for pol, seed in (("vv", 10), ("vh", 11)):
        g.write(scene / f"Patch_Cal/Cargo_x100_y200_{pol}.tif", g.tiff_bytes(g.speckled((20, 24), seed)))
    g.write(scene / "Patch_Cal/Tanker_x300_y50_vv.tif", g.tiff_bytes(g.speckled((20, 20), 12)))
    g.write(scene / "Patch_Cal/Fishing_x10_y10_vv.tif", g.tiff_bytes(g.speckled((20, 20), 13)))
    g.write(scene / "Patch_Cal/Fishing_x10_y10_vh.tif", g.tiff_bytes(g.speckled((18, 20), 14)))  # shape mismatch
    g.write(scene / "Patch_Uint8/Cargo_x100_y200_vv.tif", g.tiff_bytes(g.to_uint8(g.speckled((20, 24), 10))))


def write_sardet(root: epath.Path) -> None:
    cats = [{"id": i, "name": n} for i, n in enumerate(["ship", "aircraft", "car", "tank", "bridge", "harbor"])]

    def split(name, images, annotations):
        for im in images:
            if not im.pop("missing", False):
                g.write(root / "JPEGImages" / name / im["file_name"],
                        g.jpeg_bytes(g.to_uint8(g.speckled((im["height"], im["width"]), im["id"] + 30))))
        g.write(root / "Annotations" / f"{name}.json",
                json.dumps({"images": images, "annotations": annotations, "categories": cats}))

    split("train", [{"id": 1, "file_name": "0000001.jpg", "width": 40, "height": 32},
                    {"id": 2, "file_name": "0000002.jpg", "width": 32, "height": 32},
                    {"id": 3, "file_name": "0000003.jpg", "width": 32, "height": 32, "missing": True}],
          [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [2, 2, 6, 4]},
           {"id": 2, "image_id": 1, "category_id": 0, "bbox": [10, 3, 6, 4]},
           {"id": 3, "image_id": 1, "category_id": 0, "bbox": [4, 10, 6, 4]},
           {"id": 4, "image_id": 1, "category_id": 1, "bbox": [30, 24, 8, 6]},
           {"id": 5, "image_id": 3, "category_id": 2, "bbox": [1, 1, 3, 3]}])
    split("val", [{"id": 4, "file_name": "0000004.jpg", "width": 32, "height": 32}],
          [{"id": 6, "image_id": 4, "category_id": 4, "bbox": [8, 8, 16, 4]}])
    split("test", [{"id": 5, "file_name": "0000777.jpg", "width": 32, "height": 32}],
          [{"id": 7, "image_id": 5, "category_id": 5, "bbox": [0, 0, 12, 12]}])


def write_sample(root: epath.Path) -> None:
    pngs = root / "png_images"
    for rel, seed in (("decibel/real/t72/t72_real_A_elevDeg_016_azCenter_010_22_serial_132.png", 50),
                      ("qpm/real/2s1/2s1_real_A_elevDeg_015_azCenter_011_22_serial_b01.png", 51),
                      ("decibel/synth/m1/m1_synth_A_elevDeg_017_azCenter_012_22_serial_a01.png", 52)):
        g.write(pngs / rel, g.png_bytes(g.to_uint8(g.speckled((24, 24), seed))))


def _atr_xml(name, vtype, subclass, pol, band, box):
    return (f"<annotation><filename>{name}</filename><size><width>32</width><height>32</height>"
            f"<depth>1</depth></size><object><class>Car</class><subclass>{subclass}</subclass><type>{vtype}</type>"
            f"<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox>"
            f"</object><polarization>{pol}</polarization><band>{band}</band><scene_name>sandstone</scene_name>"
            f"<depression_angle>15</depression_angle></annotation>")


def write_atrnet(root: epath.Path) -> None:
    soc = root / "SOC_40classes"
    for split, vtype, sub, name, pol, band, seed in (
            ("train", "Changfeng_Cheetah_CFA6473C", "Medium_SUV", "KU_HH_15_0_253993", "HH", "KU", 60),
            ("test", "Buick_GL8", "Large_MPV", "X_VV_30_90_1001", "VV", "X", 61)):
        folder = soc / split / vtype
        g.write(folder / f"{name}.tif", g.tiff_bytes(g.to_uint8(g.speckled((32, 32), seed))))
        g.write(folder / f"{name}.xml", _atr_xml(name + ".tif", vtype, sub, pol, band, (8, 9, 22, 25)))
    bad = soc / "train" / "Buick_GL8"
    g.write(bad / "X_HV_45_30_1002.tif", g.tiff_bytes(g.to_uint8(g.speckled((32, 32), 62))))
    g.write(bad / "X_HV_45_30_1002.xml", "<annotation><object><type>Buick_GL8")  # broken XML
    g.write(root / "EOC_scene/train/Buick_GL8/X_VV_30_90_1001.tif",  # a re-split copy: not read
            g.tiff_bytes(g.to_uint8(g.speckled((32, 32), 61))))


def write_fair(root: epath.Path) -> None:
    import io

    import scipy.io

    train = root / "train"
    g.write(train / f"PNGImages/{FAIR_STEM}.png", g.png_bytes(g.to_uint8(g.speckled((40, 48), 70))))
    g.write(train / f"Annotations/{FAIR_STEM}.txt", "imagesource:GF3\ngsd:1\n"
            "2 2 10 2 10 6 2 6 Container_Ship 0\n30 30 40 30 40 36 30 36 Warship 0\n")
    rng = np.random.default_rng(0)
    slc = (rng.standard_normal((40, 48)) + 1j * rng.standard_normal((40, 48))).astype(np.complex64)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"slc": slc})
    g.write(train / f"SLCMats/{FAIR_STEM}.mat", buf.getvalue())
    test = root / "test"
    g.write(test / f"PNGImages/{FAIR_TEST_STEM}.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 71))))
    g.write(test / f"Annotations/{FAIR_TEST_STEM}.txt", "4 4 20 4 20 12 4 12 Other_Ship 1\n")


def write_sarlang(root: epath.Path) -> None:
    images = root / "SARimages"
    g.write(images / "France_Alpes-Maritimes_Nice_3.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 80))))
    g.write(images / "SV_Darwin_-12.4278_130.8688.tif", g.tiff_bytes(np.sqrt(g.speckled((32, 32), 81))))
    g.write(images / "0000777.jpg", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 35))))
    g.write(images / "Empty_1.png", g.png_bytes(g.to_uint8(g.speckled((16, 16), 82))))
    g.write(images / "Test_Tokyo_1.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 83))))
    g.write(root / "Text/caption/Caption-training.csv",
            "image_name,caption_text,kind\n"
            "France_Alpes-Maritimes_Nice_3.png,\"A coastal city with dense buildings, a harbour and a marina.\",long\n"
            "France_Alpes-Maritimes_Nice_3.png,A coastal city.,short\n"
            "SV_Darwin_-12.4278_130.8688.tif,Bright urban blocks next to dark water.,short\n"
            "0000777.jpg,A harbour with piers.,short\n"
            "Empty_1.png,,short\n")
    g.write(root / "Text/caption/Caption_test.csv",
            "image_name,caption_text,kind\nTest_Tokyo_1.png,A dense urban area crossed by a river.,long\n")


def write_all(root: epath.Path) -> None:
    root = g.fresh(epath.Path(root))
    write_mstar(root / "MSTAR")
    write_opensarship(root / "OpenSARShip_2.0")
    write_sardet(root / "SARDet_100K")
    write_sample(root / "SAMPLE_dataset_public")
    write_atrnet(root / "ATRNet-STAR")
    write_fair(root / "FAIR-CSAR")
    write_sarlang(root / "SARLANG-1M")
