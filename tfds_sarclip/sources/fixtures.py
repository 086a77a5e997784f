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
FAIR_EMPTY_STEM = "GF3_KAS_SL_028685_E139.7_N35.5_20220120_L1A_HH_L10000000001_00000_16051"

# source -> split -> number of good records the builder must keep
EXPECTED = {
    "mstar": {"train": 3, "test": 2},
    "opensarship": {"train": 4},
    "sardet100k": {"train": 3, "validation": 1, "test": 1},
    "sample": {"train": 3, "test": 1},
    "atrnet_star": {"train": 1, "test": 1},
    "fair_csar": {"train": 1, "test": 1},
    "sarlang1m": {"train": 4, "test": 1},
}
# source -> reason -> count of skipped records
EXPECTED_SKIPS = {
    "mstar": {"unreadable_image": 1, "outside_protocol": 2},
    "opensarship": {"unreadable_image": 1},
    "sardet100k": {"missing_file": 1},
    "sample": {"outside_protocol": 1},
    "atrnet_star": {"bad_annotation": 1},
    "fair_csar": {"outside_protocol": 1},
    "sarlang1m": {"held_out_in_test": 1, "empty_caption": 1},
}


def _chip(seed, size=24):
    mag = np.sqrt(g.speckled((size, size), seed)).astype(np.float32)
    return mag, np.zeros_like(mag)


def _phoenix_header(target, depression, serial, scene, number, azimuth="12.5"):
    """The header fields loaders use, spelled as the real chips spell them."""
    return {"Filename": f"{scene}.{number:04d}", "ParentScene": scene, "TargetType": target, "TargetSerNum": serial,
            "TargetAz": azimuth, "DesiredDepression": depression, "MeasuredDepression": f"{depression}.09",
            "Polarization": "HH", "RangeResolution": "0.3047", "CrossRangeResolution": "0.3047",
            "RangePixelSpacing": "0.2021", "CrossRangePixelSpacing": "0.2031"}


def write_mstar(root: epath.Path) -> None:
    cd = root / "MSTAR_PUBLIC_MIXED_TARGETS_CD1"
    for rel, target, dep, serial, seed in (
            ("17_DEG/COL2/SCENE1/BRDM_2/HB14931.000", "brdm2_truck", "17", "e71", 1),
            ("15_DEG/COL2/SCENE1/D7/HB14932.001", "d7_bulldozer", "15", "92v13015", 2),
            ("17_DEG/COL2/SCENE1/SLICY/HB15000.017", "slicey", "17", "", 3),
            ("30_DEG/COL2/SCENE1/ZSU_23_4/HB15001.002", "zsu23-4_gun", "30", "d08", 7)):  # an EOC depression
        scene, number = rel.rsplit("/", 1)[-1].split(".")
        g.write(cd / rel, mstar.write_phoenix(_phoenix_header(target, dep, serial, scene.lower(), int(number)),
                                              *_chip(seed)))
        g.write(cd / (rel + ".HDR"), "side file written by the MSTAR tools\n")
    cut = mstar.write_phoenix(_phoenix_header("t72_tank", "17", "132", "hb14999", 15), *_chip(4))
    g.write(cd / "17_DEG/COL2/SCENE1/T72/HB14999.015", cut[:-100])  # truncated chip
    targets = root / "MSTAR_PUBLIC_TARGETS_CHIPS_T72_BMP2_BTR70_SLICY/TARGETS/TRAIN/17_DEG/BMP2"
    for serial, number, seed in (("9563", 0, 8), ("c21", 1, 9)):  # c21 is an EOC variant
        g.write(targets / f"SN_{serial.upper()}/HB03787.{number:03d}",
                mstar.write_phoenix(_phoenix_header("bmp2_tank", "17", serial, "hb03787", number), *_chip(seed)))
    g.write(root / "TRAIN/17_DEG/T62/HB19377.JPG", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 5))))
    g.write(root / "TEST/15_DEG/ZSU_23_4/HB19378.JPG", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 6))))


# Sentinel-1 product names in the distribution's form (the scenes themselves are made up).
OSS_GRD_DUAL = "S1A_IW_GRDH_1SDV_20160101T000000_20160101T000025_009000_00D000_A1B2"
OSS_GRD_SINGLE = "S1A_IW_GRDH_1SSV_20160202T000000_20160202T000025_009500_00D500_C3D4"
OSS_SLC_DUAL = "S1A_IW_SLC__1SDV_20160303T000000_20160303T000027_010000_00E000_E5F6"
_SHIP_SECTIONS = {  # Ship.xml's tags, section by section, as the real files hold them
    "SARShipInformation": ("Time_UTC", "Head_x", "Head_y", "Tail_x", "Tail_y", "UpperLeft_x", "UpperLeft_y",
                           "LowerRight_x", "LowerRight_y", "Center_x", "Center_y", "Center_longitude",
                           "Center_latitude", "Manual_Length", "North_Direction", "Chip_Direction", "Incidence",
                           "Elevation", "SlantRangeTime"),
    "AISShipInformation": ("Time", "MMSI", "Nav_Status", "Rot", "Sog", "Pos_Acc", "Longitude", "Latitude",
                           "Projected_Longitude", "Projected_Latitude", "Cog", "True_Head", "Name", "Ship_Type",
                           "IMO", "Callsign", "Length", "Width", "Draught", "Msgid"),
    "MatchInformation": ("Length_error", "Length_error_rate", "Distance_error"),
    "MarineTrafficInformation": ("Length_overall", "Breadth_extreme", "Elaborated_type", "Gross_tonnage",
                                 "Deadweight", "Flag", "Year_built"),
    "ChipNoise": ("Interference", "Port", "Multi_ship"),
}


def _ship_xml(ships: list[dict], backslash_close: bool) -> str:
    """Ship.xml as the distribution writes it: tabs, CRLF, and in some scenes `<\\ShipList>` at the end."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<ShipList>"]
    for facts in ships:
        lines.append("\t<ship>")
        for section, tags in _SHIP_SECTIONS.items():
            lines.append(f"\t\t<{section}>")
            lines.extend(f"\t\t\t<{t}>{facts.get(t, 0)}</{t}>" for t in tags)
            lines.append(f"\t\t</{section}>")
        lines.append("\t</ship>")
    lines.append("<\\ShipList>" if backslash_close else "</ShipList>")
    return "\r\n".join(lines)


def _s1_metadata(product: str, mds: tuple[str, ...]) -> str:
    """SNAP abstracted metadata, the fields the parser reads plus a few neighbours."""
    attrs = {"PRODUCT": product, "PRODUCT_TYPE": product.split("_")[2].rstrip("_")[:3], "MISSION": "SENTINEL-1A",
             "ACQUISITION_MODE": "IW", "SAMPLE_TYPE": "COMPLEX" if "_SLC_" in product else "DETECTED",
             **{f"mds{i + 1}_tx_rx_polar": (list(mds) + ["-"] * 4)[i] for i in range(4)}, "range_spacing": "10.0"}
    body = "".join(f'    <attrib name="{k}" value="{v}" type="41" unit="" desc="" />\n' for k, v in attrs.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Metadata>\n  <Abstracted_Metadata>\n{body}' \
           "  </Abstracted_Metadata>\n</Metadata>\n"


def _ship(x, y, size, **facts):
    half = size // 2
    return {"Center_x": x, "Center_y": y, "UpperLeft_x": x + half, "UpperLeft_y": y + half,
            "LowerRight_x": x - half, "LowerRight_y": y - half, "Name": "FIXTURE", **facts}


def sea_chip(size, seed, pols):
    """Calibrated intensity of a ship at sea, one band per polarisation in `pols` (file order): sea
    clutter around -15 dB in VV and -25 dB in VH, as the real chips show, the ship ~20x brighter."""
    means = {"VV": 0.03, "VH": 0.003, "HH": 0.03, "HV": 0.003}
    bands = [g.speckled((size, size), seed + i, mean=means[p]) for i, p in enumerate(pols)]
    return np.stack(bands, axis=-1) if len(bands) > 1 else bands[0]


def write_opensarship(root: epath.Path) -> None:
    # Packaged as the OpenSARShip 1 zips: <product>/<product>/ with Metedata.xml (polarisations "-").
    grd = root / OSS_GRD_DUAL / OSS_GRD_DUAL
    g.write(grd / "Metedata.xml", _s1_metadata(OSS_GRD_DUAL, ("-",)))
    g.write(grd / "Ship.xml", _ship_xml([
        _ship(100, 200, 24, Ship_Type=71, Length=208, Width=29, Length_overall=208.94, Elaborated_type="Container Ship"),
        _ship(300, 50, 20, Ship_Type=0, Length=0, Width=0, Elaborated_type="NA"),
        _ship(10, 10, 20, Ship_Type=80, Length=150, Width=24, Elaborated_type="Tanker")], backslash_close=False))
    cargo = sea_chip(25, 10, ("VH", "VV"))
    g.write(grd / "Patch_Cal/Cargo_x100_y200.tif", g.matlab_tiff_bytes(cargo))
    g.write(grd / "Patch/Cargo_x100_y200.tif", g.matlab_tiff_bytes(np.sqrt(cargo * 4e4)))  # amplitude DN
    for i, pol in enumerate(("vh", "vv")):
        rendering = g.to_uint8(cargo[..., i])
        g.write(grd / f"Patch_Uint8/Visual_Cargo_x100_y200_{pol}.tif", g.packbits_tiff_bytes(rendering))
        g.write(grd / f"Patch_RGB/Cargo_x100_y200_{pol}.tif", g.png_bytes(np.repeat(rendering[..., None], 3, -1)))
    g.write(grd / "Patch_Cal/Other Type_x300_y50.tif", g.matlab_tiff_bytes(sea_chip(21, 12, ("VH", "VV"))))
    g.write(grd / "Patch_Cal/Tanker_x10_y10.tif", g.matlab_tiff_bytes(sea_chip(21, 14, ("VH", "VV")))[:-200])  # cut
    # Packaged as the OpenSARShip 2 zips: flat, <product>.xml, some Ship.xml closed by `<\ShipList>`.
    single = root / OSS_GRD_SINGLE
    g.write(single / f"{OSS_GRD_SINGLE}.xml", _s1_metadata(OSS_GRD_SINGLE, ("VV",)))
    g.write(single / "Ship.xml", _ship_xml([_ship(40, 60, 20, Ship_Type=70, Length=120, Width=18,
                                                  Elaborated_type="General Cargo")], backslash_close=True))
    g.write(single / "Patch_Cal/Cargo_x40_y60.tif", g.matlab_tiff_bytes(sea_chip(21, 16, ("VV",))))
    slc = root / OSS_SLC_DUAL
    g.write(slc / f"{OSS_SLC_DUAL}.xml", _s1_metadata(OSS_SLC_DUAL, ("VH", "VV")))
    g.write(slc / "Ship.xml", _ship_xml([_ship(500, 700, 24, Ship_Type=80, Length=0, Length_overall=183.5,
                                               Breadth_extreme=32.2, Elaborated_type="Oil Products Tanker")],
                                        backslash_close=True))
    power = sea_chip(25, 18, ("VH", "VV"))
    phase = g.uniform((25, 25, 2), 19, 0, 2 * np.pi)
    iq = np.sqrt(power * 1e4)[..., None] * np.stack([np.cos(phase), np.sin(phase)], axis=-1)  # (H, W, pol, I/Q)
    g.write(slc / "Patch/Tanker_x500_y700.tif", g.matlab_tiff_bytes(iq.reshape(25, 25, 4)))
    g.write(slc / "Patch_Cal/Tanker_x500_y700.tif",
            g.matlab_tiff_bytes((iq[..., 0] ** 2 + iq[..., 1] ** 2) / 1e4))  # (I^2 + Q^2) / K, as in the real files


def _coco_annotation(i, image_id, category, bbox, **flags):
    """A COCO annotation with the keys the real SARDet-100K files carry."""
    return {"area": float(bbox[2] * bbox[3]), "iscrowd": 0, "image_id": image_id, "bbox": [float(v) for v in bbox],
            "category_id": category, "id": i, "ignore": 0, "segmentation": [], **flags}


def write_sardet(root: epath.Path) -> None:
    cats = [{"id": i, "name": n} for i, n in enumerate(["ship", "aircraft", "car", "tank", "bridge", "harbor"])]
    encoders = {".jpg": g.jpeg_bytes, ".png": g.png_bytes, ".bmp": g.bmp_bytes}  # the release mixes all three

    def split(name, images, annotations):
        for im in images:
            if not im.pop("missing", False):
                pixels = g.to_uint8(g.speckled((im["height"], im["width"]), im["id"] + 30))
                g.write(root / "JPEGImages" / name / im["file_name"], encoders[im["file_name"][-4:]](pixels))
        g.write(root / "Annotations" / f"{name}.json",
                json.dumps({"images": images, "annotations": annotations, "categories": cats}))

    split("train", [{"file_name": "0000001.jpg", "height": 32, "width": 40, "id": 1},
                    {"file_name": "0000002.png", "height": 32, "width": 32, "id": 2},
                    {"file_name": "0000003.jpg", "height": 32, "width": 32, "id": 3, "missing": True},
                    {"file_name": "0000008.bmp", "height": 24, "width": 24, "id": 8}],
          [_coco_annotation(1, 1, 0, [2, 2, 6, 4]), _coco_annotation(2, 1, 0, [10, 3, 6, 4]),
           _coco_annotation(3, 1, 0, [4, 10, 6, 4]), _coco_annotation(4, 1, 1, [30, 24, 8, 6]),
           _coco_annotation(5, 3, 2, [1, 1, 3, 3]),
           _coco_annotation(9, 2, 3, [4, 4, 8, 8]), _coco_annotation(10, 2, 3, [20, 20, 8, 8], ignore=1),
           _coco_annotation(11, 2, 3, [20, 4, 8, 8], iscrowd=1), _coco_annotation(12, 2, 3, [2, 20, 0.5, 6]),
           _coco_annotation(13, 8, 0, [6, 6, 10, 4])])
    split("val", [{"file_name": "0000004.jpg", "height": 32, "width": 32, "id": 4}],
          [_coco_annotation(6, 4, 4, [8, 8, 16, 4])])
    split("test", [{"file_name": "0000777.jpg", "height": 32, "width": 32, "id": 5}],
          [_coco_annotation(7, 5, 5, [0, 0, 12, 12])])


def write_sample(root: epath.Path) -> None:
    pngs = root / "png_images"
    for rel, seed in (("decibel/real/t72/t72_real_A_elevDeg_016_azCenter_013_77_serial_812.png", 50),
                      ("qpm/real/2s1/2s1_real_A_elevDeg_015_azCenter_011_22_serial_b01.png", 51),
                      ("qpm/synth/2s1/2s1_synth_A_elevDeg_015_azCenter_011_22_serial_b01.png", 53),
                      ("qpm/real/t72/t72_real_A_elevDeg_017_azCenter_011_77_serial_812.png", 54),
                      ("decibel/synth/t72/t72_synth_A_elevDeg_017_azCenter_011_77_serial_812.png", 52)):
        g.write(pngs / rel, g.png_bytes(g.to_uint8(g.speckled((24, 24), seed))))


def _atr_xml(name, target_id, vtype, subclass, pol, band, box, depression="15", others=()):
    """An annotation with every tag of the official README's table, in its order. The README lists
    leaf tags only; the `size` and `bndbox` wrappers (VOC style) are an assumption (the parser
    reads both forms). `others`: boxes of non-dataset vehicles, labelled "other"."""
    def vehicle(tid, cls, sub, typ, b, size=("4.8m", "1.79m", "1.88m")):
        return (f"<object><target_id>{tid}</target_id><class>{cls}</class><subclass>{sub}</subclass>"
                f"<type>{typ}</type><length>{size[0]}</length><width>{size[1]}</width><height>{size[2]}</height>"
                f"<bndbox><xmin>{b[0]}</xmin><xmax>{b[2]}</xmax><ymin>{b[1]}</ymin><ymax>{b[3]}</ymax></bndbox>"
                "</object>")

    objects = "".join(vehicle("0", "other", "other", "other", b) for b in others)
    return (f"<annotation><filename>{name}</filename><size><height>32</height><width>32</width><depth>1</depth>"
            "</size><format>ground_range_uint8</format><range_dimension>1_height</range_dimension>"
            "<cross_range_dimension>2_width</cross_range_dimension>"
            f"{objects}{vehicle(target_id, 'Car', subclass, vtype, box)}"
            f"<scene_name>sandstone</scene_name><platform>airborne</platform><imaging_mode>strimap</imaging_mode>"
            f"<band>{band}</band><polarization>{pol}</polarization><range_resolution>0.15m</range_resolution>"
            f"<cross_range_resolution>0.15m</cross_range_resolution><depression_angle>{depression}°</depression_angle>"
            "<target_azimuth_angle>0°</target_azimuth_angle></annotation>")


def write_atrnet(root: epath.Path) -> None:
    soc = root / "SOC_40classes"
    for split, tid, vtype, sub, name, pol, band, seed, others in (
            ("train", 13, "Changfeng_Cheetah_CFA6473C", "Medium_SUV", "KU_HH_15_0_253993", "HH", "KU", 60,
             [(1, 1, 6, 5)]),  # a non-dataset car in the corner, listed first
            ("test", 7, "Buick_GL8", "Large_MPV", "X_VV_30_90_1001", "VV", "X", 61, [])):
        folder = soc / split / vtype
        g.write(folder / f"{name}.tif", g.tiff_bytes(g.to_uint8(g.speckled((32, 32), seed))))
        g.write(folder / f"{name}.xml", _atr_xml(name + ".tif", tid, vtype, sub, pol, band, (8, 9, 22, 25),
                                                 depression=name.split("_")[2], others=others))
    bad = soc / "train" / "Buick_GL8"
    g.write(bad / "X_HV_45_30_1002.tif", g.tiff_bytes(g.to_uint8(g.speckled((32, 32), 62))))
    g.write(bad / "X_HV_45_30_1002.xml", "<annotation><object><type>Buick_GL8")  # broken XML
    g.write(root / "EOC_scene/train/Buick_GL8/X_VV_30_90_1001.tif",  # a re-split copy: not read
            g.tiff_bytes(g.to_uint8(g.speckled((32, 32), 61))))


def _slc(shape, seed):
    """Complex SLC samples with amplitudes in the digital-number range GF-3 products use."""
    rng = np.random.default_rng([7, seed])
    return (300 * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(np.complex64)


def write_fair(root: epath.Path) -> None:
    sl = root / "VOC-SL"  # the fine-grained variant of the authors' layout
    g.write(sl / f"trainval/Annotations/{FAIR_STEM}.txt",
            "2 2 10 2 10 6 2 6 Container_Ship 0\n30 30 40 30 40 36 30 36 Warship 1\n")
    g.write(sl / f"trainval/SLCMats/{FAIR_STEM}.mat", g.mat_bytes({"data": _slc((40, 48), 70)}))
    g.write(sl / f"trainval/Annotations/{FAIR_EMPTY_STEM}.txt", "")  # no box: the authors skip it
    g.write(sl / f"trainval/SLCMats/{FAIR_EMPTY_STEM}.mat", g.mat_bytes({"data": _slc((16, 16), 72)}))
    g.write(sl / f"test/Annotations/{FAIR_TEST_STEM}.txt", "4 4 20 4 20 12 4 12 Other_Ship 0\n")
    g.write(sl / f"test/SLCMats/{FAIR_TEST_STEM}.mat", g.mat_bytes({"data": _slc((32, 32), 71)}))


def write_sarlang(root: epath.Path) -> None:
    images = root / "SARimages"
    g.write(images / "France_Alpes-Maritimes_Nice_3.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 80))))
    g.write(images / "SV_Darwin_-12.4278_130.8688.tif", g.tiff_bytes(np.sqrt(g.speckled((32, 32), 81))))
    g.write(images / "0000777.jpg", g.jpeg_bytes(g.to_uint8(g.speckled((32, 32), 35))))
    g.write(images / "Empty_1.png", g.png_bytes(g.to_uint8(g.speckled((16, 16), 82))))
    g.write(images / "Test_Tokyo_1.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 83))))
    g.write(images / "Paris_2.png", g.png_bytes(g.to_uint8(g.speckled((32, 32), 84))))  # the CSV names Paris_2.tif
    g.write(root / "Text/caption/Caption-training.csv",
            "image_name,caption_text,kind\n"
            "France_Alpes-Maritimes_Nice_3.png,\"A coastal city with dense buildings, a harbour and a marina.\",long\n"
            "France_Alpes-Maritimes_Nice_3.png,A coastal city.,short\n"
            "SV_Darwin_-12.4278_130.8688.tif,Bright urban blocks next to dark water.,short\n"
            "0000777.jpg,A harbour with piers.,short\n"
            "Empty_1.png,,short\n"
            "Paris_2.tif,Boulevards and blocks along a river.,short\n"
            "0000001.jpg,Three ships and an aircraft near the coast.,short\n")  # left in SARDet-100K's folder
    g.write(root / "Text/caption/Caption_test.csv",
            "image_name,caption_text,kind\nTest_Tokyo_1.png,A dense urban area crossed by a river.,long\n")
    g.write(root / "Text/caption/Caption_test1.csv",
            "image_name,caption_text,kind\nTest_Tokyo_1.png,A city.,short\n")


def write_all(root: epath.Path) -> None:
    root = g.fresh(epath.Path(root))
    write_mstar(root / "MSTAR")
    write_opensarship(root / "OpenSARShip_2.0")
    write_sardet(root / "SARDet_100K")
    write_sample(root / "SAMPLE_dataset_public")
    write_atrnet(root / "ATRNet-STAR")
    write_fair(root / "FAIR-CSAR")
    write_sarlang(root / "SARLANG-1M")
