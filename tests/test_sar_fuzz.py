"""Fuzzing the image readers with random and mutated PNG, JPEG and GeoTIFF bytes: the only failure
allowed is ImageDecodeError naming the file; nothing hangs; a header claiming huge dimensions is
refused before any allocation; and any image a builder keeps is usable by training and evaluation.
Examples are derandomized (the same every run); SARCLIP_FUZZ_EXAMPLES=5000 makes a longer hunt."""

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from fuzz_inputs import fix_png_crcs, mutated, random_image_bytes, seeds, tiff
from hypothesis import HealthCheck, given, settings

from sarclip_jax.data import sar_augment, sar_radiometry, sar_readers, sar_transforms
from sarclip_jax.evaluation import images as eval_images
from tfds_sarclip import features

SEEDS = seeds()
EXAMPLES = int(os.environ.get("SARCLIP_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECONDS_PER_FILE = 5.0  # a decode of these tiny files takes milliseconds; more means a runaway loop
HEAVY = sar_augment.Augment(speckle_prob=1.0, dihedral=True, crop_scale=(0.3, 1.0))


def decode_or_refuse(data: bytes, name: str):
    """The decoded array, or None after an ImageDecodeError that names the file."""
    t0 = time.perf_counter()
    try:
        out = sar_readers.decode_image_bytes(data, name)
    except sar_readers.ImageDecodeError as e:
        assert str(e).startswith(name), e
        out = None
    assert time.perf_counter() - t0 < SECONDS_PER_FILE
    if out is not None:
        assert out.ndim in (2, 3) and out.dtype.kind in "uifc"
        assert out.shape[0] * out.shape[1] <= sar_readers.MAX_IMAGE_PIXELS
    return out


def test_seed_files_decode():
    for name, data in SEEDS.items():
        assert decode_or_refuse(data, name) is not None, name


@pytest.mark.timeout(300, method="thread")
@FUZZ
@given(mutated(SEEDS))
def test_mutated_files_decode_or_raise_a_named_error(case):
    name, data = case
    decode_or_refuse(data, f"fuzz/{name}")


@pytest.mark.timeout(300, method="thread")
@FUZZ
@given(random_image_bytes())
def test_random_bytes_decode_or_raise_a_named_error(data):
    decode_or_refuse(data, "fuzz/random")


@pytest.mark.timeout(300, method="thread")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on absurd float pixels, mapped by nan_to_num
@settings(FUZZ, max_examples=max(20, EXAMPLES // 3))
@given(mutated(SEEDS))
def test_every_record_a_builder_keeps_is_usable_by_training_and_evaluation(case):
    name, data = case
    raw = features.RawRecord(source="fuzz", image_id=name, load=lambda: data, scale="auto",
                             float_scale="amplitude", captions=["a ship ."])
    try:
        example = features.to_example(raw)
    except features.RecordError as e:
        assert e.reason in ("unreadable_image", "wrong_band_count") and name in e.detail
        return
    rng = np.random.default_rng(0)
    for image in (sar_transforms.image_for_model(example, 32, sar_radiometry.Radiometry()),
                  sar_transforms.image_for_model(example, 32, sar_radiometry.Radiometry(), HEAVY, rng),
                  eval_images.prepare(example, 32, "clip")):
        assert image.shape == (32, 32, 3) and np.all(np.isfinite(image))


@pytest.mark.timeout(60, method="thread")
def test_a_tiff_whose_directory_chain_loops_is_refused():
    # Found by the fuzzer: an empty directory whose "next" points at itself; tifffile's series scan
    # skips empty pages without noticing the loop and walks it forever.
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ones((8, 8), np.float32), metadata=None)
    data = bytearray(buf.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, first)[0]
    data += b"\0" * (len(data) % 2)
    empty = len(data)
    data += struct.pack("<HI", 0, empty)
    struct.pack_into("<I", data, first + 2 + 12 * count, empty)
    t0 = time.perf_counter()
    with pytest.raises(sar_readers.ImageDecodeError, match="loop.tif: .*loops back"):
        sar_readers.decode_image_bytes(bytes(data), "loop.tif")
    assert time.perf_counter() - t0 < 1.0


# --- huge dimensions ----------------------------------------------------------------------------

def _png_claiming(width: int, height: int, bit_depth: int = 8) -> bytes:
    data = bytearray(SEEDS["png_l"])
    data[16:24] = struct.pack(">II", width, height)
    data[24] = bit_depth
    return fix_png_crcs(bytes(data))


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(SEEDS["jpeg_l"])
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _tiff_claiming(width: int, height: int) -> bytes:
    import tifffile

    data = bytearray(SEEDS["tiff_f32"])
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = {t.name: t for t in tif.pages[0].tags.values()}
    for tag, value in (("ImageWidth", width), ("ImageLength", height), ("RowsPerStrip", height)):
        fmt = "<I" if tags[tag].dtype == 4 else "<H"
        struct.pack_into(fmt, data, tags[tag].valueoffset, value)
    return bytes(data)


def _npy_claiming(rows: int, cols: int) -> bytes:
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64


def _tiff_zlib_bomb(inflated_mib: int) -> bytes:
    """A 16 x 16 float32 TIFF whose one deflate strip inflates to `inflated_mib` MiB of zeros."""
    import tifffile

    data = bytearray(tiff(np.zeros((16, 16), np.float32), compression="zlib"))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = {t.name: t for t in tif.pages[0].tags.values()}
    z = zlib.compressobj(9)
    stream = b"".join(z.compress(bytes(2**20)) for _ in range(inflated_mib)) + z.flush()
    struct.pack_into("<I", data, tags["StripOffsets"].valueoffset, len(data))
    struct.pack_into("<I", data, tags["StripByteCounts"].valueoffset, len(stream))
    return bytes(data) + stream


HUGE = {  # name -> (bytes, dimensions the error must name)
    "huge.png": (_png_claiming(100_000, 100_000), "100000 x 100000"),
    "huge16.png": (_png_claiming(9_000, 9_000, 16), "9000 x 9000"),  # under PIL's own bomb threshold
    "huge.jpg": (_jpeg_claiming(65_000, 65_000), "65000 x 65000"),
    "huge.tif": (_tiff_claiming(100_000, 100_000), "100000 x 100000"),
    "huge.npy": (_npy_claiming(100_000, 100_000), "100000 x 100000"),
}

# Runs in a child process whose address space is capped at its start size + 512 MiB, so an
# attempt to allocate the claimed pixels fails there instead of swapping this machine.
_CHILD = r"""
import json, resource, sys
from sarclip_jax.data import sar_readers
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 2**20, resource.RLIM_INFINITY))
out = {}
for path in sys.argv[1:]:
    try:
        sar_readers.read_image(path)
        out[path] = ["decoded", ""]
    except Exception as e:
        out[path] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


@pytest.mark.timeout(120, method="thread")
def test_huge_claimed_dimensions_and_zlib_bombs_are_refused_before_allocation(tmp_path):
    paths = {"bomb.tif": tmp_path / "bomb.tif"}
    paths["bomb.tif"].write_bytes(_tiff_zlib_bomb(640))  # 640 KB on disk, 640 MiB inflated
    for name, (data, _) in HUGE.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    run = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths.values())], capture_output=True,
                         text=True, timeout=100, check=False, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    for name, (_, dims) in HUGE.items():
        kind, message = results[str(paths[name])]
        assert kind == "ImageTooLargeError", (name, kind, message)
        assert str(paths[name]) in message and dims in message
        assert str(sar_readers.MAX_IMAGE_PIXELS) in message
    kind, message = results[str(paths["bomb.tif"])]  # small dimensions, but a zlib bomb inside
    assert kind == "ImageDecodeError" and "inflates past its page's 1024 bytes" in message, message


def test_size_limits_admit_the_largest_allowed_image():
    side = int(np.sqrt(sar_readers.MAX_IMAGE_PIXELS))
    sar_readers.check_size((side, side, 3), 4, "ok")  # 8192 x 8192 x 3 float32 fits both limits
    with pytest.raises(sar_readers.ImageTooLargeError, match="big: image claims 8192 x 8193"):
        sar_readers.check_size((side, side + 1), 1, "big")
    with pytest.raises(sar_readers.ImageTooLargeError, match="4096 x 4096 x 20"):
        sar_readers.check_size((4096, 4096, 20), 4, "bands")  # pixels fit, bytes do not
