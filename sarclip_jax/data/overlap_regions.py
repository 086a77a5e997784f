"""Shared regions: the same pixels of one image inside another at the same pixel spacing (a crop
off the centre, a chip cut from the same scene with another window, two tiles that overlap).
The whole-view hashes of `overlap.py` find copies, re-encodings, rescalings and centre crops,
but a window shifted by a few percent already changes them as much as a different scene does.

Translation only, at the images' own pixel spacing:

1. `grey`: decibels (display products: their level), bands averaged, native size (reduced by an
   integer factor above MAX_SIDE pixels: such an image matches only images reduced alike, at
   shifts that are a multiple of the factor);
2. `block_hashes`: 63 bits of a 16 x 16 block, the signs of its 63 lowest non-DC DCT
   coefficients, so a block's gain and offset (another radiometric stretch, a re-encoding) do
   not change them. Near-flat blocks (a spread under FLAT of the image's) carry no hash. A training
   image keeps the blocks of an 8-pixel grid, an evaluation image a block at every pixel: any
   shared region of at least 23 x 23 pixels holds a whole grid block of the training image,
   which is one of the evaluation image's blocks;
3. `RegionSearch`: a training block and an evaluation block are a candidate pair when one of
   three 21-bit pieces of their hashes is equal (certain when they differ in at most two bits,
   likely beyond; a piece more than MAX_BUCKET training blocks share is skipped) and the hashes
   differ in at most BLOCK_BITS of 63; each pair says where the evaluation image would sit in the
   training image;
4. each placement (most-voted first, MAX_PLACEMENTS of them) is checked on the pixels: the two
   images overlap there by at least MIN_SIDE x MIN_SIDE pixels and their grey levels correlate
   (NCC) at least MIN_NCC over the overlap.

    search = RegionSearch([grey(r) for r in eval_records])
    for i in range(len(train)):
        search.add(i, grey(train[i]))
    found = search.matches()   # per eval image: [RegionMatch(train, dy, dx, ncc, shared, votes), ...]

Memory: 13 bytes per evaluation pixel (its grey image and block hashes) and, per shard of
training images, about 75 bytes per grid block plus 2 bytes per pixel.
Rates measured on the synthetic scenes: docs/data.md (`bench/overlap_regions.py`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sarclip_jax.data import records, sar_radiometry

BLOCK = 16
GRID = 8  # training images keep the blocks at this stride
MAX_SIDE = 2048  # larger images are reduced by an integer factor first (bounds the work per image)
FLAT = 0.02  # blocks whose grey levels spread less than this share of the image's carry no hash
BLOCK_BITS = 6  # of 63: bench/overlap_regions.py finds every JPEG q70 window with it
SHARD_BLOCKS = 2_000_000  # training blocks searched at a time (~150 MB of tables, ~256 MB of images)
MIN_SIDE = 2 * BLOCK  # smallest overlap checked, per side
MIN_NCC = 0.8
MAX_PLACEMENTS = 64  # placements checked per evaluation image, most-voted first
MAX_BUCKET = 256  # a lookup piece shared by more training blocks of a shard says little: skipped
_PIECES = ((0, 21), (21, 21), (42, 21))  # (shift, bits) of the three lookup pieces
_BIT = (np.uint64(1) << np.arange(63, dtype=np.uint64))


def _dct_rows(n: int, rows: int) -> np.ndarray:
    k, i = np.meshgrid(np.arange(rows), np.arange(n), indexing="ij")
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n)).astype(np.float32)


_DCT = _dct_rows(BLOCK, 8)  # the 8 lowest frequencies: 8 x 8 coefficients, 63 without DC


def grey(record: dict, decoded: tuple[np.ndarray, str] | None = None) -> np.ndarray:
    """(H, W) float32, bands averaged: decibels (10 log10 of the intensity) for calibrated
    scales, the level in [0, 1] for display products, at the image's own size (reduced by the
    smallest integer factor that brings it within MAX_SIDE). No window and no clipping: another
    gain and offset (an amplitude image read as intensity doubles its dB, another stretch of a
    display product) changes neither the block hashes nor the NCC. `decoded`: the record's
    `records.decode_image` result when the caller has it."""
    pixels, scale = decoded if decoded is not None else records.decode_image(record)
    hwc = sar_radiometry.as_hwc(pixels)
    if scale == "display":
        unit = sar_radiometry.display_to_unit(hwc).mean(axis=-1)
    else:
        unit = sar_radiometry.intensity_to_db(sar_radiometry.to_intensity(hwc, scale)).mean(axis=-1)
    f = math.ceil(max(unit.shape) / MAX_SIDE)
    if f > 1:
        h, w = unit.shape[0] // f * f, unit.shape[1] // f * f
        unit = unit[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    return np.ascontiguousarray(unit, np.float32)


def block_hashes(image: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes (ny, nx) uint64, flat (ny, nx) bool) of the BLOCK x BLOCK blocks at every
    `stride`-th pixel of a grey image; images smaller than a block have none."""
    if image.ndim != 2:
        raise ValueError(f"block_hashes needs a 2-D grey image, got shape {image.shape}")
    if min(image.shape) < BLOCK:
        return np.zeros((0, 0), np.uint64), np.zeros((0, 0), bool)
    windows = sliding_window_view(image, (BLOCK, BLOCK))[::stride, ::stride]
    floor = FLAT * float(image.std())
    hashes = np.empty(windows.shape[:2], np.uint64)
    flat = np.empty(windows.shape[:2], bool)
    for s in range(0, windows.shape[0], 32):  # a band of rows at a time bounds the float arrays
        band = windows[s:s + 32]
        coef = (_DCT @ band @ _DCT.T).reshape(*band.shape[:2], 64)[..., 1:]
        hashes[s:s + 32] = np.bitwise_or.reduce(np.where(coef > 0, _BIT, np.uint64(0)), axis=-1)
        flat[s:s + 32] = band.std(axis=(-1, -2)) <= floor
    return hashes, flat


def _piece(h: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return (h >> np.uint64(shift)) & np.uint64((1 << bits) - 1)


@dataclasses.dataclass(frozen=True)
class RegionMatch:
    train: int  # the training image's index
    dy: int  # where the evaluation image's top-left pixel lies in the training image
    dx: int
    ncc: float
    shared: float  # fraction of the evaluation image's pixels that the overlap covers
    votes: int  # block pairs that proposed this placement


def ncc_at(train: np.ndarray, query: np.ndarray, dy: int, dx: int) -> tuple[float, float]:
    """(normalised cross-correlation, shared fraction of `query`) of the overlap when the query's
    top-left pixel lies at (dy, dx) of `train`; (nan, 0) when the overlap is under MIN_SIDE."""
    y0, x0 = max(0, dy), max(0, dx)
    y1, x1 = min(train.shape[0], dy + query.shape[0]), min(train.shape[1], dx + query.shape[1])
    if y1 - y0 < MIN_SIDE or x1 - x0 < MIN_SIDE:
        return float("nan"), 0.0
    a = train[y0:y1, x0:x1].astype(np.float64).ravel()
    b = query[y0 - dy:y1 - dy, x0 - dx:x1 - dx].astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return (float(a @ b) / den if den > 0 else float("nan")), (y1 - y0) * (x1 - x0) / query.size


class RegionSearch:
    """Evaluation images searched against training images fed one at a time: the training grid
    blocks gather into a shard of about SHARD_BLOCKS, every evaluation image is looked up in it,
    then the shard is dropped, so memory stays bounded however large the training split."""

    def __init__(self, queries: Sequence[np.ndarray]):
        self._queries = []
        for image in queries:  # each query's blocks at every pixel, hashed once for all shards
            h, flat = block_hashes(image, 1)
            qy, qx = np.nonzero(~flat)
            self._queries.append((image, h[qy, qx], qy.astype(np.int32), qx.astype(np.int32)))
        self._found: list[dict[int, RegionMatch]] = [{} for _ in self._queries]
        self._reset()

    def _reset(self):
        self._parts, self._images, self._blocks = [], {}, 0

    def add(self, index: int, image: np.ndarray) -> None:
        """Training image `index` (its `grey` image)."""
        h, flat = block_hashes(image, GRID)
        by, bx = np.nonzero(~flat)
        if len(by) and self._queries:
            self._parts.append((h[by, bx], np.full(len(by), index, np.int64), (by * GRID).astype(np.int32),
                                (bx * GRID).astype(np.int32)))
            self._images[index] = image.astype(np.float16)  # enough for the NCC check, half the memory
            self._blocks += len(by)
        if self._blocks >= SHARD_BLOCKS:
            self._search_shard()

    def matches(self) -> list[list[RegionMatch]]:
        """Per evaluation image, the training images it shares a region with (the best placement
        in each, highest NCC first)."""
        self._search_shard()
        return [sorted(found.values(), key=lambda m: (-m.ncc, m.train)) for found in self._found]

    def _search_shard(self) -> None:
        if not self._parts:
            return
        hashes, owner, ys, xs = (np.concatenate(p) for p in zip(*self._parts))
        tables = []
        for shift, bits in _PIECES:
            key = _piece(hashes, shift, bits)
            order = np.argsort(key, kind="stable")
            key = key[order]
            _, size = np.unique(key, return_counts=True)
            keep = np.repeat(size <= MAX_BUCKET, size)  # bounds the pairs a repeated texture makes
            tables.append((key[keep], order[keep]))
        for (image, q, qy, qx), found in zip(self._queries, self._found):
            votes = _placements(q, qy, qx, hashes, owner, ys, xs, tables)
            for (train, dy, dx), n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PLACEMENTS]:
                ncc, shared = ncc_at(self._images[train], image, dy, dx)
                if ncc >= MIN_NCC and (train not in found or ncc > found[train].ncc):
                    found[train] = RegionMatch(train, dy, dx, round(ncc, 4), round(shared, 4), n)
        self._reset()


def _placements(q, qy, qx, hashes, owner, ys, xs, tables) -> dict[tuple[int, int, int], int]:
    """{(training image, dy, dx): block pairs proposing it} for one query's blocks."""
    found = []
    for (shift, bits), (keys, order) in zip(_PIECES, tables):
        piece = _piece(q, shift, bits)
        lo, hi = np.searchsorted(keys, piece, "left"), np.searchsorted(keys, piece, "right")
        counts = hi - lo
        if not counts.any():
            continue
        start = np.repeat(lo - (np.cumsum(counts) - counts), counts)  # each run's first slot
        qi = np.repeat(np.arange(len(q)), counts)
        ti = order[start + np.arange(counts.sum())]
        close = np.bitwise_count(q[qi] ^ hashes[ti]) <= BLOCK_BITS
        found.append(np.stack([qi[close], ti[close]], axis=1))
    if not found:
        return {}
    pairs = np.unique(np.concatenate(found), axis=0)  # a pair found by two pieces counts once
    qi, ti = pairs[:, 0], pairs[:, 1]
    where = np.stack([owner[ti], ys[ti] - qy[qi], xs[ti] - qx[qi]], axis=1)
    keys, votes = np.unique(where, axis=0, return_counts=True)
    return {tuple(int(v) for v in k): int(n) for k, n in zip(keys, votes)}
