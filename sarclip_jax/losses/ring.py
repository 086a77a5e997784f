"""The ring that the fused losses run on: every device's texts visit every device, tile by tile.

Each device keeps its images; its texts (with their positive keys) are cut into column tiles of
`block` and travel round the devices with `ppermute`. A tile moves on as soon as it has been met,
into the slot it leaves, so a device holds its visiting block plus one tile in flight, not two
blocks (and on accelerators the transfer overlaps the next tile's work). Per-text statistics
(`col_state`) travel with their tile and are home after the last hop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

F32 = jnp.float32


class Ring(NamedTuple):
    axis: tuple[str, ...] | None  # mesh axes the batch is split over; None on one device
    size: int
    block: int

    def index(self):
        return jax.lax.axis_index(self.axis) if self.axis else 0

    def shift(self, tree):
        """Every device passes `tree` to the next one round the ring."""
        if self.size == 1:
            return tree
        perm = [(i, (i + 1) % self.size) for i in range(self.size)]
        return jax.tree.map(lambda x: jax.lax.ppermute(x, self.axis, perm), tree)

    def vary(self, tree):
        """Marks fresh accumulators as per-device values (shard_map's varying-axes typing)."""
        if not self.axis:
            return tree

        def cast(x):
            missing = tuple(a for a in self.axis if a not in jax.typeof(x).manual_axis_type.varying)
            return jax.lax.pcast(x, missing, to="varying") if missing else x

        return jax.tree.map(cast, tree)

    def psum(self, x):
        return jax.lax.psum(x, self.axis) if self.axis else x

    def all_gather(self, x):
        return jax.lax.all_gather(x, self.axis, tiled=True) if self.axis else x

    def pmax(self, x):
        return jax.lax.pmax(x, self.axis) if self.axis else x

    def pmin(self, x):
        return jax.lax.pmin(x, self.axis) if self.axis else x

    def psum_scatter(self, x):
        return jax.lax.psum_scatter(x, self.axis, tiled=True) if self.axis else x


class Tile(NamedTuple):
    """What a tile function sees of one (B_local, block) tile."""
    dot: jax.Array        # (b, block) float32 image . text
    positive: jax.Array   # (b, block) bool: the text's key equals the image's own key (never padding)
    valid: jax.Array      # (block,) bool: False on padding columns
    row_ids: jax.Array    # (b,) global batch index of each image
    col_ids: jax.Array    # (block,) global batch index of each text
    row_keys: tuple       # k arrays (b,): the images' own keys
    col_keys: tuple       # k arrays (block,): the texts' keys
    images: jax.Array     # (b, d)
    texts: jax.Array      # (block, d)


# (row_state, col_tile_state, Tile) -> (row_state, col_tile_state)
TileFn = Callable


def own_keys(keys, ring: Ring, b: int) -> tuple:
    """Keys of the local rows as k arrays of shape (b,) (not one (b, k) array, whose narrow minor
    axis TPUs would pad to 128 lanes): the caption ids' columns, or each row's global index."""
    if keys is None:
        return (ring.index() * b + jnp.arange(b, dtype=jnp.int32),)
    keys = keys.reshape(b, -1)
    return tuple(keys[:, i] for i in range(keys.shape[1]))


def keys_equal(a: tuple, b: tuple):
    out = a[0] == b[0]
    for x, y in zip(a[1:], b[1:]):
        out = out & (x == y)
    return out


def ring_pass(images, texts, keys, ring: Ring, tile_fn: TileFn, row_state, col_state):
    """Meets the local images with every device's texts, one (B_local, block) tile at a time.

    `row_state` (leading axis B_local) stays on this device; `col_state` (leading axes
    (n_tiles, block)) belongs to this device's texts, travels with them and is home at the end.
    `keys` (k arrays (b,)) are the local texts' positive keys, also the local images' own keys.
    """
    b = images.shape[0]
    block, n_tiles = tiling(b, ring.block)
    payload = (to_tiles(texts, ring.block), tuple(to_tiles(k, ring.block) for k in keys))
    valid = to_tiles(jnp.ones((b,), bool), ring.block)  # padding columns are False; same for every block
    me = ring.index()
    row_ids = (me * b + jnp.arange(b)).astype(jnp.int32)
    row_state, payload, col_state = ring.vary((row_state, payload, col_state))

    def visit(carry, step, last: bool):
        source = (me - step) % ring.size  # whose texts are visiting now

        def tile(carry, t):
            row_state, payload, col_state = carry
            text_tile, key_tile = jax.tree.map(lambda x: x[t], payload)
            col_tile = jax.tree.map(lambda x: x[t], col_state)
            col_ids = (source * b + t * block + jnp.arange(block)).astype(jnp.int32)
            dot = jnp.einsum("id,jd->ij", images, text_tile, preferred_element_type=F32)
            positive = keys_equal(tuple(k[:, None] for k in keys), tuple(k[None, :] for k in key_tile))
            positive = positive & valid[t][None, :]
            row_state, col_tile = tile_fn(row_state, col_tile, Tile(
                dot, positive, valid[t], row_ids, col_ids, keys, key_tile, images, text_tile))
            # Hand the tile on at once; after the last visit only the statistics travel (home).
            sent = col_tile if last else (col_tile, (text_tile, key_tile))
            got = ring.shift(sent)
            col_state = jax.tree.map(lambda x, g: x.at[t].set(g), col_state, got if last else got[0])
            if not last:
                payload = jax.tree.map(lambda x, g: x.at[t].set(g), payload, got[1])
            return (row_state, payload, col_state), None

        return jax.lax.scan(tile, carry, jnp.arange(n_tiles))[0]

    carry = jax.lax.scan(lambda c, k: (visit(c, k, False), None),
                         (row_state, payload, col_state), jnp.arange(ring.size - 1))[0]
    row_state, _, col_state = visit(carry, ring.size - 1, True)
    return row_state, jax.tree.map(lambda x: x.reshape(n_tiles * block, *x.shape[2:])[:b], col_state)


def tiling(b: int, block_size: int) -> tuple[int, int]:
    block = min(block_size, b)
    return block, -(-b // block)


def to_tiles(x, block_size: int):
    """(b, ...) -> (n_tiles, block, ...), zero-padded at the end."""
    block, n_tiles = tiling(x.shape[0], block_size)
    pad = ((0, n_tiles * block - x.shape[0]),) + ((0, 0),) * (x.ndim - 1)
    return jnp.pad(x, pad).reshape(n_tiles, block, *x.shape[1:])


def col_init(b: int, block_size: int, *fills):
    block, n_tiles = tiling(b, block_size)
    return tuple(jnp.full((n_tiles, block), f, dtype) for f, dtype in fills)


def best(state, values, ids, keys, axis):
    """Running arg-max (value, global index, key of the winner); ties go to the lower global index,
    so the winner does not depend on the ring order."""
    top, arg, key = state
    m = values.max(axis)
    i = jnp.argmax(values, axis)
    a = ids[i]
    better = (m > top) | ((m == top) & (a < arg))
    return (jnp.where(better, m, top), jnp.where(better, a, arg),
            tuple(jnp.where(better, k[i], old) for k, old in zip(keys, key)))


def best_init(shape: tuple[int, ...], keys):
    """Initial arg-max state for rows (shape (b,)) or column tiles ((n_tiles, block))."""
    return (jnp.full(shape, -jnp.inf, F32), jnp.full(shape, jnp.iinfo(jnp.int32).max, jnp.int32),
            tuple(jnp.zeros(shape, k.dtype) for k in keys))


def hits(arg_keys, keys):
    """How many arg-max winners are positives (their key equals the row's own key)."""
    return jnp.sum(keys_equal(arg_keys, keys))
