"""Synthetic SAR scenes whose captions a model can only match by reading the image.

    scene = generate_scene(np.random.default_rng([seed, split, index]), size=128)
    scene.intensity  # (size, size) float32 linear intensity, speckled
    scene.objects    # [(class, (ymin, xmin, ymax, xmax)), ...] normalised boxes

Each scene is one background (sea, farmland, forest or desert, with its own mean backscatter
and texture) holding a group of 1-5 targets of one class, all with their centres in one cell of
a 3 x 3 grid, and with probability 1/2 one target of another class in a cell that is clearly
left/right of or above/below the group. Classes depend on the background (ships and oil slicks
at sea; vehicles, aircraft, buildings and storage tanks on land), so the class word is partly
given away by the background, but count and position words are not: the same class appears
with every count in every cell. Land scenes also hold a few bright point scatterers that are not
targets, so counting bright blobs is not enough; ships can be confused with aircraft only by
shape. Speckle is 1-, 2- or 4-look, so targets are visible but noisy.

Reflectivity is built in dB, turned into linear intensity and multiplied by gamma speckle.
Everything is drawn from the caller's generator: a scene is a pure function of its seed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sarclip_jax.text import prompts

BACKGROUNDS = ("sea", "farmland", "forest", "desert")
CLASSES = prompts.SYNTHETIC_CLASSES
SEA_CLASSES, LAND_CLASSES = CLASSES[:2], CLASSES[2:]  # ship, oil slick | vehicle, aircraft, building, tank
MAX_COUNT = {"ship": 5, "oil slick": 2, "vehicle": 5, "aircraft": 3, "building": 3, "storage tank": 4}
# Target length as a fraction of the image side (range), and its floor in pixels so small
# images still show a shape rather than a dot.
LENGTH = {"ship": (0.09, 0.15), "oil slick": (0.13, 0.2), "vehicle": (0.045, 0.065), "aircraft": (0.11, 0.15),
          "building": (0.08, 0.11), "storage tank": (0.06, 0.08)}
MIN_PIXELS = {"ship": 7, "oil slick": 12, "vehicle": 4, "aircraft": 9, "building": 7, "storage tank": 5}
LOOKS = (1, 2, 4)
SHADOW_DB = -28.0  # radar shadow: no return, only noise floor


@dataclasses.dataclass
class SyntheticScene:
    intensity: np.ndarray
    objects: list[tuple[str, tuple[float, float, float, float]]]
    background: str
    looks: int


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish-variance noise with features about size / cells pixels across."""
    from PIL import Image

    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC), np.float32)


def background_db(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "sea":
        wind = rng.uniform(-23.0, -19.0)
        return wind + 1.5 * _smooth_noise(rng, size, 4)
    if kind == "farmland":  # a patchwork of parcels, each with its own crop backscatter
        rows = np.sort(rng.integers(1, size, rng.integers(2, 5)))
        cols = np.sort(rng.integers(1, size, rng.integers(2, 5)))
        levels = rng.uniform(-15.0, -7.0, (len(rows) + 1, len(cols) + 1))
        r_idx = np.searchsorted(rows, np.arange(size), side="right")
        c_idx = np.searchsorted(cols, np.arange(size), side="right")
        return levels[r_idx][:, c_idx].astype(np.float32) + 0.5 * _smooth_noise(rng, size, 8)
    if kind == "forest":  # strong canopy texture
        return rng.uniform(-9.0, -7.0) + 2.0 * _smooth_noise(rng, size, max(4, size // 6))
    if kind == "desert":  # smooth dunes
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
        angle, freq = rng.uniform(0, math.pi), rng.uniform(3, 6)
        dunes = np.sin(2 * math.pi * freq * (x * math.cos(angle) + y * math.sin(angle)))
        return (rng.uniform(-18.0, -15.0) + 1.5 * dunes).astype(np.float32)
    raise ValueError(f"unknown background {kind!r}")


def _local_frame(cy: float, cx: float, angle: float, reach: float, size: int):
    """Pixel index window around (cy, cx) and coordinates (u along the target, v across)."""
    r = math.ceil(reach) + 1
    y0, y1 = max(0, int(cy) - r), min(size, int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(size, int(cx) + r + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    c, s = math.cos(angle), math.sin(angle)
    return (slice(y0, y1), slice(x0, x1)), dx * c + dy * s, -dx * s + dy * c


def _paint(db: np.ndarray, window, mask: np.ndarray, level: float, mode: str = "max") -> None:
    region = db[window]
    if mode == "max":
        region[mask] = np.maximum(region[mask], level)
    elif mode == "set":
        region[mask] = level
    else:  # "add"
        region[mask] += level


def render_target(db: np.ndarray, label: str, cy: float, cx: float, length: float, angle: float,
                  rng: np.random.Generator) -> None:
    """Draws one target into the dB map in place (illumination from the left: shadows fall right)."""
    size = db.shape[0]
    win, u, v = _local_frame(cy, cx, angle, length, size)
    bright = rng.uniform(-1.0, 5.0)
    if label == "ship":
        width = length * rng.uniform(0.22, 0.3)
        taper = np.clip((length / 2 - np.abs(u)) / (0.25 * length), 0, 1)  # pointed bow and stern
        hull = (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2 * np.maximum(taper, 0.35))
        _paint(db, win, hull, bright)
        for k in rng.uniform(-0.35, 0.35, 2):  # superstructure: the brightest scatterers
            _paint(db, win, (np.abs(u - k * length) < 1.0) & (np.abs(v) < 1.0), bright + 6.0)
    elif label == "oil slick":  # damped capillary waves: darker than the sea around it
        width = length * rng.uniform(0.3, 0.45)
        wobble = 1.0 + 0.25 * np.sin(3.0 * u / length * math.pi + rng.uniform(0, 6.3))
        _paint(db, win, (u / (length / 2)) ** 2 + (v / (width / 2 * wobble)) ** 2 <= 1.0, -9.0, mode="add")
    elif label == "vehicle":
        width = length * 0.5
        body = (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)
        shadow_win, su, sv = _local_frame(cy, cx + length * 0.6, angle, length, size)
        _paint(db, shadow_win, (np.abs(su) <= length / 2) & (np.abs(sv) <= width / 2), SHADOW_DB, mode="set")
        _paint(db, win, body, bright + 3.0)
    elif label == "aircraft":
        t = length * 0.12
        fuselage = (np.abs(u) <= length / 2) & (np.abs(v) <= t / 2 + 0.5)
        wings = (np.abs(u - 0.05 * length) <= t * 0.9) & (np.abs(v) <= 0.45 * length)
        tail = (np.abs(u + 0.42 * length) <= t * 0.6) & (np.abs(v) <= 0.18 * length)
        _paint(db, win, fuselage | wings | tail, bright)
    elif label == "building":
        side = length / 2
        footprint = (np.abs(u) <= side) & (np.abs(v) <= side * 0.8)
        shadow_win, su, sv = _local_frame(cy, cx + side * 1.1, angle, length, size)
        _paint(db, shadow_win, (np.abs(su) <= side) & (np.abs(sv) <= side * 0.8), SHADOW_DB, mode="set")
        _paint(db, win, footprint, bright - 8.0, mode="set")  # flat roof: specular, dim
        edge = footprint & ((u <= -side + 1.5) | (v <= -side * 0.8 + 1.5))  # double bounce: an L
        _paint(db, win, edge, bright + 4.0)
    elif label == "storage tank":
        radius = length / 2
        d = np.hypot(u, v)
        shadow_win, su, sv = _local_frame(cy, cx + radius * 0.8, 0.0, length, size)
        _paint(db, shadow_win, np.hypot(su, sv) <= radius, SHADOW_DB, mode="set")
        _paint(db, win, d <= radius, bright - 6.0, mode="set")
        ring = (np.abs(d - radius) <= 1.2) & (u <= radius * 0.3)  # near-range rim
        _paint(db, win, ring, bright + 4.0)
    else:
        raise ValueError(f"unknown target class {label!r}")


def _extent(label: str, length: float, angle: float) -> tuple[float, float]:
    """Half-height and half-width of the target's axis-aligned box (shadow excluded)."""
    width = {"ship": 0.3, "oil slick": 0.55, "vehicle": 0.5, "aircraft": 0.9, "building": 0.8,
             "storage tank": 1.0}[label] * length
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    return (length * s + width * c) / 2, (length * c + width * s) / 2


def _place(rng, size, cell, radius, taken, attempts=80):
    """A centre inside grid cell `cell` (row, col), apart from every taken disc. Discs bound the
    targets loosely (elongated ones fill little of theirs), so 0.8 of the radii sum keeps shapes
    apart while letting several fit in one cell."""
    row, col = cell
    third = size / 3
    margin = 1.0
    for _ in range(attempts):
        cy = rng.uniform(row * third + margin, (row + 1) * third - margin)
        cx = rng.uniform(col * third + margin, (col + 1) * third - margin)
        cy, cx = min(max(cy, radius), size - radius), min(max(cx, radius), size - radius)
        inside = row * third <= cy < (row + 1) * third and col * third <= cx < (col + 1) * third
        if inside and all(math.hypot(cy - y, cx - x) >= 0.8 * (radius + r) for y, x, r in taken):
            return cy, cx
    return None


def _secondary_cell(rng, cell):
    """A cell whose offset from `cell` is dominated by one axis, so left/right/above/below is clear."""
    options = [(r, c) for r in range(3) for c in range(3)
               if (r, c) != cell and abs(r - cell[0]) != abs(c - cell[1])]
    return options[int(rng.integers(len(options)))]


def generate_scene(rng: np.random.Generator, size: int = 128, secondary_prob: float = 0.5) -> SyntheticScene:
    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    classes = SEA_CLASSES if background == "sea" else LAND_CLASSES
    db = background_db(background, size, rng).astype(np.float32)
    taken: list[tuple[float, float, float]] = []
    objects = []

    def add(label, cell):
        lo, hi = LENGTH[label]
        length = max(MIN_PIXELS[label], rng.uniform(lo, hi) * size)
        angle = rng.uniform(0, math.pi)
        hh, hw = _extent(label, length, angle)
        spot = _place(rng, size, cell, max(hh, hw), taken)
        if spot is None:
            return False
        cy, cx = spot
        taken.append((cy, cx, max(hh, hw)))
        render_target(db, label, cy, cx, length, angle, rng)
        box = (max(cy - hh, 0) / size, max(cx - hw, 0) / size, min(cy + hh, size) / size, min(cx + hw, size) / size)
        objects.append((label, tuple(float(b) for b in box)))
        return True

    main = classes[int(rng.integers(len(classes)))]
    cell = (int(rng.integers(3)), int(rng.integers(3)))
    count = int(rng.integers(1, MAX_COUNT[main] + 1))
    placed = sum(add(main, cell) for _ in range(count))
    if placed == 0:  # cannot happen for the sizes above; kept so a scene always has a target
        raise RuntimeError("could not place any target")
    if rng.random() < secondary_prob:
        other = [c for c in classes if c != main]
        add(other[int(rng.integers(len(other)))], _secondary_cell(rng, cell))
    if background != "sea":  # point scatterers that are not targets (poles, rocks)
        for _ in range(int(rng.integers(0, 6))):
            y, x = rng.integers(0, size, 2)
            if all(math.hypot(y - ty, x - tx) > tr + 2 for ty, tx, tr in taken):
                db[y, x] = max(db[y, x], rng.uniform(-4.0, 2.0))
    looks = LOOKS[int(rng.integers(len(LOOKS)))]
    speckle = rng.gamma(looks, 1.0 / looks, db.shape).astype(np.float32)
    intensity = (np.power(10.0, db / 10.0) * speckle).astype(np.float32)
    return SyntheticScene(intensity=intensity, objects=objects, background=background, looks=looks)


def to_display_uint8(intensity: np.ndarray, db_range: tuple[float, float] = (-25.0, 5.0)) -> np.ndarray:
    """The 8-bit product: dB window -> [0, 255], the mapping SAR CLIP loaders invert with (x + 25) / 30."""
    lo, hi = db_range
    db = 10.0 * np.log10(np.maximum(intensity, 1e-10))
    return np.round(np.clip((db - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)
