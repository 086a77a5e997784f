"""Writes the tiny fixture trees under `*/dummy_data/` (TFDS convention), in each source's layout.

    python -m tfds_sarclip.dummy_data_gen        # rewrites every fixture tree, deterministically

The trees are committed; tests read them as --manual_dir. Each holds a few good records and, on
purpose, bad ones (missing, truncated, empty caption, wrong band count) that builds must skip
and report. Images are 16-48 px so the whole set stays small.
"""

from __future__ import annotations

import numpy as np
from etils import epath

from sarclip_jax.data.formats import mstar
from tfds_sarclip.fixture_io import fresh, jpeg_bytes, png_bytes, speckled, tiff_bytes, to_uint8, write  # noqa: F401
from tfds_sarclip.sources import fixtures

ROOT = epath.Path(__file__).parent


def release_tree(root: epath.Path) -> None:
    """train.csv (comma, imgpath/caption, several captions per image, one image also in test),
    retrieval_file_list.csv (tab, filename/caption, SARCLIP's own list format)."""
    d = fresh(root)
    write(d / "data/train/a.png", png_bytes(to_uint8(speckled((24, 24), 1))))
    write(d / "data/train/b.tif", tiff_bytes(np.sqrt(speckled((24, 24, 2), 2)), planar_separate=True))
    write(d / "data/train/c.jpg", jpeg_bytes(to_uint8(speckled((24, 24), 3))))
    write(d / "data/train/cut.png", png_bytes(to_uint8(speckled((24, 24), 4)))[:60])  # truncated
    write(d / "data/train/four.tif", tiff_bytes(speckled((16, 16, 4), 5)))  # 4 bands
    write(d / "data/train/nocap.png", png_bytes(to_uint8(speckled((16, 16), 6))))
    write(d / "data/retrieval/001.tif", tiff_bytes(to_uint8(speckled((24, 24), 7))))
    write(d / "data/retrieval/002.png", png_bytes(to_uint8(speckled((24, 24), 8))))
    rows = [("data/train/a.png", "two ships in the upper left ."),
            ("data/train/a.png", "ships near the coast ."),
            ("/home/author/SARCLIP/data/train/b.tif", "a dual-pol scene with a bright field ."),
            ("./data/train/c.jpg", "\"a vehicle, parked in the centre .\""),
            ("data/train/cut.png", "a truncated file ."),
            ("data/train/four.tif", "an image with four bands ."),
            ("data/train/nocap.png", ""),
            ("data/train/missing.png", "a file that is not there ."),
            ("data/retrieval/002.png", "this image is in the test list too .")]
    write(d / "train.csv", "imgpath,caption\n" + "".join(f"{p},{c}\n" for p, c in rows))
    write(d / "retrieval_file_list.csv", "filename\tcaption\n"
          "./data/retrieval/001.tif\ta single bridge at the top .\n"
          "./data/retrieval/002.png\t3 ships are present in the lower right .\n")


# --- sar_zeroshot -----------------------------------------------------------------------------------

def zeroshot_tree(root: epath.Path) -> None:
    """MSTAR-style class folders: JPEGs, a raw Phoenix chip, a stray text file, a broken JPEG."""
    d = fresh(root)
    for i, cls in enumerate(("2S1", "BRDM_2", "T72")):
        for j in range(2):
            write(d / cls / f"HB{i}{j:04d}.JPG", jpeg_bytes(to_uint8(speckled((32, 32), 20 + 3 * i + j))))
    mag = np.sqrt(speckled((32, 32), 40))
    chip = mstar.write_phoenix({"TargetType": "t72_tank", "DesiredDepression": "15", "TargetAz": "10.0"},
                               mag, np.zeros_like(mag))
    write(d / "T72" / "HB03333.015", chip)
    write(d / "T72" / "notes.txt", "not an image\n")
    write(d / "2S1" / "HB09999.JPG", jpeg_bytes(to_uint8(speckled((32, 32), 41)))[:100])


def mstar_cd_tree(root: epath.Path) -> None:
    """MSTAR as converted from the T72/BMP2/BTR70 CD: TARGETS/{TRAIN/17_DEG,TEST/15_DEG}/<class>/
    SN_<serial>/, JPEG exports beside a raw chip; BMP2 SN_C21 is an EOC variant, not SOC."""
    d = fresh(root)
    for split, dep, cls, serial, n, seed in (("TRAIN", 17, "BMP2", "9563", 2, 50), ("TRAIN", 17, "T72", "132", 1, 52),
                                             ("TEST", 15, "BMP2", "9563", 2, 54), ("TEST", 15, "BMP2", "C21", 1, 56),
                                             ("TEST", 15, "BTR70", "C71", 2, 58)):
        for j in range(n):
            write(d / f"TARGETS/{split}/{dep}_DEG/{cls}/SN_{serial}/HB0{seed}{j:02d}.JPG",
                  jpeg_bytes(to_uint8(speckled((32, 32), seed + j))))
    mag = np.sqrt(speckled((32, 32), 60))
    chip = mstar.write_phoenix({"TargetType": "t72_tank", "TargetSerNum": "132", "DesiredDepression": "15"},
                               mag, np.zeros_like(mag))
    write(d / "TARGETS/TEST/15_DEG/T72/SN_132/HB03333.015", chip)


def fusar_ship_tree(root: epath.Path) -> None:
    """FUSAR-Ship 1.0 as its readme describes it: <category>/<subcategory>/Ship_C<xx>S<yy>N<zzzz>.tiff
    plus meta.csv (tab-separated, path with a backslash). The chips' dtype was not observed; 8-bit here."""
    d = fresh(root)
    rows = []
    for c, (category, sub) in enumerate((("Cargo", "BulkCarrier"), ("Cargo", "ContainerShip"), ("Fishing", "Fishing"),
                                         ("Tanker", "Tanker"))):
        for k in range(1 + (c == 0)):
            name = f"Ship_C{c + 1:02d}S{k + 1:02d}N{c * 10 + k:04d}.tiff"
            write(d / category / sub / name, tiff_bytes(to_uint8(speckled((32, 32), 70 + 3 * c + k))))
            rows.append(f"{c * 10 + k}\t41200000{c}\t180\t30\tDH\t33.2\t0.9\t0.9\t{category}\\{sub}")
    write(d / "meta.csv", "id\tmmsi\tlength\twidth\tpolarMode\tcenterLookAngle\theightspace\twidthspace\tpath\n"
          + "\n".join(rows) + "\n")


def sar_vsa_tree(root: epath.Path) -> None:
    """SAR-VSA as the SARATR-X evaluation reads it: train/ and test/, one folder per class."""
    d = fresh(root)
    for split in ("train", "test"):
        for i, cls in enumerate(("airplane", "bridge", "oil_tank")):
            write(d / split / cls / f"{split}_{i}.png", png_bytes(to_uint8(speckled((32, 32), 90 + i))))


def main() -> None:
    release_tree(ROOT / "sarclip1m" / "dummy_data" / "release")
    zeroshot_tree(ROOT / "sar_zeroshot" / "dummy_data")
    fixtures.write_all(ROOT / "sarclip1m" / "dummy_data" / "sources")


if __name__ == "__main__":
    main()
