"""How the fused losses cut their work: the plain rows, or the ring with a column tile that fits.

A pure function of the per-device batch, the ring size, the embedding width and the memory the
loss may use per device for its temporaries (beyond its inputs and gradients). The byte counts
are a model of what XLA allocates, calibrated on its own buffer assignment
(`tests/test_losses.py` holds compiled programs to the budget):

- plain rows: the gathered texts and their gradient, and a few (B_local, B) float32 arrays
  (logits, the two softmaxes, d loss / d logits kept for the backward pass);
- ring: the visiting block of texts, its gradient accumulator (travelling), the images'
  gradient accumulator, and a few (B_local, block) float32 arrays per tile.

The plain rows are chosen whenever they fit: they do the same matrix products as the ring
without its backward recomputation, so they are never slower.
"""

from __future__ import annotations

DENSE = 0  # the plain rows instead of the ring
DEFAULT_MEMORY_BYTES = 64 * 2**20
MIN_BLOCK = 128  # narrower tiles waste the matrix units of TPUs and GPUs

# Measured on XLA's CPU buffer assignment (8 devices, widths 64-512), rounded up by about 20%:
# the plain rows keep ~4 (b, B) float32 arrays, the ring ~2 (b, d) accumulators/blocks besides
# its inputs and outputs and ~2.5 (b, block) float32 arrays per tile.


def dense_bytes(b: int, ring: int, dim: int, itemsize: int) -> int:
    n = b * ring
    return n * dim * (itemsize + 4) + 5 * b * n * 4


def ring_bytes(b: int, block: int, dim: int, itemsize: int) -> int:
    return 5 * b * dim * max(itemsize, 4) // 2 + block * (3 * b * 4 + 2 * dim * 4)


def choose(b: int, ring: int, dim: int, itemsize: int, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> int:
    """DENSE, or the ring's column tile: the widest that fits `memory_bytes`, preferring divisors of
    `b` (no padded tile); at least min(b, MIN_BLOCK) even when nothing fits (best effort)."""
    if dense_bytes(b, ring, dim, itemsize) <= memory_bytes:
        return DENSE
    per_column = ring_bytes(b, 1, dim, itemsize) - ring_bytes(b, 0, dim, itemsize)
    widest = min(b, max(0, (memory_bytes - ring_bytes(b, 0, dim, itemsize)) // per_column))
    floor = min(b, MIN_BLOCK)
    if widest <= floor:
        return floor
    divisors = [w for w in range(floor, widest + 1) if b % w == 0]
    # A divisor within half the widest width beats a padded tile; otherwise pad to a multiple of 128.
    if divisors and 2 * divisors[-1] >= widest:
        return divisors[-1]
    return max(floor, widest // MIN_BLOCK * MIN_BLOCK)
