"""Train/eval overlap: the same image in both, found by two hashes.

- exact: `pixel_hash`, a hash of the decoded pixels (dtype, shape and values), so the same image
  stored as PNG in one dataset and TIFF in another is one image;
- near: `perceptual_hashes`, 256-bit DCT hashes (16 x 16 lowest frequencies of a 32 x 32
  reduction, each bit: coefficient above their median) of the image the model sees (the eval
  preprocessing: radiometry to [0, 1], CLIP resize and centre crop, grey level), taken of the
  whole view and of its centre 90% and 80%. The distance of two images is the smallest Hamming
  distance between one's whole-view hash and any hash of the other, so a re-encoded copy, a
  rescaled one or a centre crop of up to 20% either way is close. Crops off the centre, and
  tiles that share part of a scene, are found at the images' own pixel spacing by
  `overlap_regions`.

On the synthetic scenes (`sarclip data overlap` docs, docs/data.md) JPEG copies are within 10
bits, centre crops of 5% per side within 28 and of 10% within 48; of 1,000 held-out scenes one
lies within 48 of a different training scene (the same kind of scene: aircraft on bare desert).

    hashes = np.stack([perceptual_hashes(r) for r in records])   # (n, 3, 32) uint8
    pairs = near_pairs(eval_hashes, train_hashes)                  # (eval, train, distance)

Pure functions of records and arrays; the command that reports overlap is `sarclip data overlap`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sarclip_jax.data import records, sar_radiometry, sar_transforms

HASH_SIZE = 16  # 16 x 16 low-frequency DCT coefficients -> 256 bits (32 bytes)
VIEW = 128  # the model-input view the hashes are taken of
CROPS = (1.0, 0.9, 0.8)  # whole view and centre crops
NEAR_DISTANCE = 48  # default threshold, of 256 bits
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def pixel_hash(record: dict, decoded: tuple[np.ndarray, str] | None = None) -> str:
    """Hex digest of the decoded pixels (dtype, shape and bytes)."""
    pixels, _ = decoded if decoded is not None else records.decode_image(record)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{pixels.dtype.str}{pixels.shape}".encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()


def model_view(record: dict, size: int = VIEW, radiometry: sar_radiometry.Radiometry | None = None,
               decoded: tuple[np.ndarray, str] | None = None) -> np.ndarray:
    """The eval-path model input, in [0, 1], grey: (size, size) float32."""
    unit = sar_transforms.image_for_model(record, size, radiometry or sar_radiometry.Radiometry(), None,
                                          mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), decoded=decoded)
    return unit.mean(axis=-1).astype(np.float32)


def _dct_matrix(n: int) -> np.ndarray:
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n)).astype(np.float32)


_DCT32 = _dct_matrix(32)


def dct_hash(grey: np.ndarray) -> np.ndarray:
    """256-bit hash (32 uint8) of a grey image of any size: reduced to 32 x 32 (bilinear), its
    16 x 16 lowest DCT frequencies, each bit set where the coefficient is above their median
    (the DC term left out of the median)."""
    from PIL import Image

    if grey.ndim != 2:
        raise ValueError(f"dct_hash needs a 2-D grey image, got shape {grey.shape}")
    small = np.asarray(Image.fromarray(np.asarray(grey, np.float32)).resize((32, 32), Image.BILINEAR))
    low = (_DCT32 @ small @ _DCT32.T)[:HASH_SIZE, :HASH_SIZE].ravel()
    return np.packbits(low > np.median(low[1:]))


def perceptual_hashes(record: dict, radiometry: sar_radiometry.Radiometry | None = None,
                      decoded: tuple[np.ndarray, str] | None = None) -> np.ndarray:
    """(len(CROPS), 32) uint8: the dct_hash of the model view and of its centre crops."""
    view = model_view(record, VIEW, radiometry, decoded)
    out = []
    for fraction in CROPS:
        n = int(round(VIEW * fraction))
        o = (VIEW - n) // 2
        out.append(dct_hash(view[o:o + n, o:o + n]))
    return np.stack(out)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distances between packed hashes (..., 32 uint8), broadcast over the leading axes."""
    return _POPCOUNT[np.bitwise_xor(np.asarray(a, np.uint8), np.asarray(b, np.uint8))].sum(axis=-1, dtype=np.int64)


def distances(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(m, n) image distances between hash sets (m, C, 32) and (n, C, 32): the smallest distance of
    one's whole-view hash to any hash of the other, both ways."""
    q, c = np.asarray(queries, np.uint8), np.asarray(candidates, np.uint8)
    one = hamming(q[:, None, None, 0], c[None, :, :]).min(axis=-1)
    other = hamming(q[:, None, :], c[None, :, None, 0]).min(axis=-1)
    return np.minimum(one, other)


def _block(candidates: np.ndarray, budget_bytes: int = 1 << 27) -> int:
    """Queries per block so that one block's XOR array stays within ~128 MB."""
    per_query = max(1, len(candidates)) * len(CROPS) * 32 * 2
    return max(1, budget_bytes // per_query)


def near_pairs(queries: np.ndarray, candidates: np.ndarray, max_distance: int = NEAR_DISTANCE,
               block: int | None = None) -> list[tuple[int, int, int]]:
    """(query index, candidate index, distance) for every pair within max_distance, sorted by
    distance then indices; computed a block of queries at a time."""
    block = block or _block(candidates)
    found = []
    for s in range(0, len(queries), block):
        dist = distances(queries[s:s + block], candidates)
        q, c = np.nonzero(dist <= max_distance)
        found.extend(zip((q + s).tolist(), c.tolist(), dist[q, c].tolist()))
    return sorted(found, key=lambda t: (t[2], t[0], t[1]))


def nearest(queries: np.ndarray, candidates: np.ndarray, block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(index, distance) of each query's nearest candidate (lowest index among ties)."""
    block = block or _block(candidates)
    index, distance = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for s in range(0, len(queries), block):
        dist = distances(queries[s:s + block], candidates)
        index.append(dist.argmin(axis=1))
        distance.append(dist.min(axis=1))
    return np.concatenate(index), np.concatenate(distance)
