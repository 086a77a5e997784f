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


def main() -> None:
    release_tree(ROOT / "sarclip1m" / "dummy_data" / "release")
    zeroshot_tree(ROOT / "sar_zeroshot" / "dummy_data")
    fixtures.write_all(ROOT / "sarclip1m" / "dummy_data" / "sources")


if __name__ == "__main__":
    main()
