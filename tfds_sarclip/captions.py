"""Five captions per image from class labels and boxes, of SARCLIP-1M's four kinds.

    captions = make_captions(Scene(objects=[("ship", (0.1, 0.1, 0.2, 0.3))], background="sea"),
                             seed=0, key="img_001")

Kinds, in order: general (class and scene), counting ("three ships ..."), absolute region
("... in the upper left"), relative region ("a ship to the left of an oil slick"), and a fifth
absolute-region caption that also states the count. Phrasings vary between images but are a
pure function of (scene, seed, key), so a rebuild writes identical captions.

Regions: the image is cut into a 3 x 3 grid; an object is in the cell holding its box centre.
Relations between two objects use the larger of the horizontal and vertical offsets between
their centres ("to the left of" / "above" ...).
"""

from __future__ import annotations

import collections
import dataclasses
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

Box = tuple[float, float, float, float]  # ymin, xmin, ymax, xmax in [0, 1]

REGION_NAMES = (("upper left", "top", "upper right"),
                ("left", "centre", "right"),
                ("lower left", "bottom", "lower right"))
REGION_PHRASES = {"upper left": "in the upper left", "top": "at the top", "upper right": "in the upper right",
                  "left": "on the left", "centre": "in the centre", "right": "on the right",
                  "lower left": "in the lower left", "bottom": "at the bottom", "lower right": "in the lower right"}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")

# singular, plural. Labels not listed get a regular plural.
NOUNS: dict[str, tuple[str, str]] = {
    "ship": ("ship", "ships"), "vehicle": ("vehicle", "vehicles"), "aircraft": ("aircraft", "aircraft"),
    "building": ("building", "buildings"), "oil slick": ("oil slick", "oil slicks"),
    "storage tank": ("storage tank", "storage tanks"), "oil tank": ("oil tank", "oil tanks"),
    "bridge": ("bridge", "bridges"), "harbor": ("harbour", "harbours"), "harbour": ("harbour", "harbours"),
    "car": ("car", "cars"), "tank": ("tank", "tanks"), "airplane": ("aircraft", "aircraft"),
}

BACKGROUND_PHRASES = {"sea": "at sea", "farmland": "among farmland", "forest": "over forest",
                      "desert": "on bare desert ground", "urban": "in an urban area", "harbour": "in a harbour",
                      "airport": "at an airport", "land": "on land"}


@dataclasses.dataclass(frozen=True)
class Scene:
    objects: Sequence[tuple[str, Box]] = ()
    background: str = ""  # a BACKGROUND_PHRASES key or free text ("on the sea surface")
    nouns: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # overrides NOUNS


def noun(label: str, count: int, nouns: Mapping[str, tuple[str, str]] = NOUNS) -> str:
    singular, plural = nouns.get(label) or NOUNS.get(label) or (label, _plural(label))
    return singular if count == 1 else plural


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def article(phrase: str) -> str:
    """'a'/'an' by sound: acronyms and model codes (M1, SUV, ZSU234) go by their letter's name."""
    first = phrase.split(" ", 1)[0]
    acronym = len(first) > 1 and (first.isupper() or any(c.isdigit() for c in first)) and first[0].isalpha()
    vowel_sound = first[:1].upper() in "AEFHILMNORSX" if acronym else first[:1].lower() in "aeiou"
    return ("an " if vowel_sound else "a ") + phrase


def count_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def counted(label: str, n: int, nouns: Mapping[str, tuple[str, str]] = NOUNS) -> str:
    return f"{count_word(n)} {noun(label, n, nouns)}"


def centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def region_of(box: Box) -> str:
    cy, cx = centre(box)
    # A box hanging over the border can have its centre outside [0, 1]: it is in the edge cell.
    row = min(max(int(cy * 3), 0), 2)
    col = min(max(int(cx * 3), 0), 2)
    return REGION_NAMES[row][col]


def relation(a: Box, b: Box) -> str:
    """Where a lies relative to b: 'to the left of', 'to the right of', 'above' or 'below'."""
    (ay, ax), (by, bx) = centre(a), centre(b)
    dy, dx = ay - by, ax - bx
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _ordered_counts(objects: Sequence[tuple[str, Box]]) -> list[tuple[str, int]]:
    """Classes by decreasing count, then by first appearance (stable, deterministic)."""
    counts = collections.Counter(label for label, _ in objects)
    first = {label: i for i, (label, _) in reversed(list(enumerate(objects)))}
    return sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]]))


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _background(scene: Scene) -> str:
    return BACKGROUND_PHRASES.get(scene.background, scene.background)


def general(scene: Scene, rng: np.random.Generator) -> str:
    where = _background(scene)
    if not scene.objects:
        what = f"a SAR image {where}" if where else "a SAR image with no annotated target"
        return what + "."
    classes = [article(noun(label, 1, scene.nouns)) if n == 1 else noun(label, n, scene.nouns)
               for label, n in _ordered_counts(scene.objects)]
    head = _pick(rng, ("a SAR image of", "a radar image showing", "a synthetic aperture radar image of"))
    return f"{head} {_join(classes)}{' ' + where if where else ''}."


def counting(scene: Scene, rng: np.random.Generator) -> str:
    if not scene.objects:
        return "there are no targets in this SAR image."
    ordered = _ordered_counts(scene.objects)
    parts = [counted(label, n, scene.nouns) for label, n in ordered]
    form = int(rng.integers(3))
    if form == 0:  # "there is one X and two Y": the verb agrees with the first noun
        return f"there {'is' if ordered[0][1] == 1 else 'are'} {_join(parts)} in this SAR image."
    if form == 1:
        return f"{_join(parts)} {'is' if len(scene.objects) == 1 else 'are'} visible in the radar image."
    return f"the SAR image contains {_join(parts)}."


def _where_class(label: str, boxes: Sequence[Box], nouns, with_count: bool) -> str:
    """'three ships in the upper left', or 'two ships in the centre and one on the left'."""
    regions = collections.Counter(region_of(b) for b in boxes)
    n = len(boxes)
    if len(regions) == 1:
        (region,) = regions
        thing = counted(label, n, nouns) if with_count else (article(noun(label, 1, nouns)) if n == 1
                                                              else noun(label, n, nouns))
        return f"{thing} {REGION_PHRASES[region]}"
    if len(regions) == 2:
        (r1, n1), (r2, n2) = sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))
        return f"{counted(label, n1, nouns)} {REGION_PHRASES[r1]} with {count_word(n2)} more {REGION_PHRASES[r2]}"
    return f"{counted(label, n, nouns) if with_count else noun(label, n, nouns)} spread across the image"


def absolute(scene: Scene, rng: np.random.Generator, with_count: bool = False) -> str:
    if not scene.objects:
        return "an empty SAR scene with no targets in any region."
    by_class: dict[str, list[Box]] = collections.defaultdict(list)
    for label, box in scene.objects:
        by_class[label].append(box)
    parts = [_where_class(label, by_class[label], scene.nouns, with_count)
             for label, _ in _ordered_counts(scene.objects)][:2]
    lead = _pick(rng, ("", "in this SAR image, ", "the radar image shows "))
    return lead + _join(parts) + "."


def relative(scene: Scene, rng: np.random.Generator) -> str:
    objs = list(scene.objects)
    if not objs:
        return "no target stands out against the background of this SAR image."
    ordered = _ordered_counts(objs)
    if len(ordered) >= 2:
        # The most frequent class as a group, against the first object of the next class.
        (main, n_main), (other, _) = ordered[0], ordered[1]
        boxes = [b for label, b in objs if label == main]
        group = (float(np.mean([b[0] for b in boxes])), float(np.mean([b[1] for b in boxes])),
                 float(np.mean([b[2] for b in boxes])), float(np.mean([b[3] for b in boxes])))
        ref = next(b for label, b in objs if label == other)
        subject = counted(main, n_main, scene.nouns) if n_main > 1 else article(noun(main, 1, scene.nouns))
        verb = "are" if n_main > 1 else "is"
        return f"{subject} {verb} {relation(group, ref)} {article(noun(other, 1, scene.nouns))}."
    label, n = ordered[0]
    if n >= 2:
        # Two objects of one class: the leftmost (or topmost) against its neighbour.
        a, b = sorted((box for _, box in objs), key=lambda bx: (centre(bx)[1], centre(bx)[0]))[:2]
        one = noun(label, 1, scene.nouns)
        return f"{article(one)} {relation(a, b)} another {one}."
    box = objs[0][1]
    image_centre = (0.5 - 1e-6, 0.5 - 1e-6, 0.5 + 1e-6, 0.5 + 1e-6)
    cy, cx = centre(box)
    if abs(cy - 0.5) < 1 / 6 and abs(cx - 0.5) < 1 / 6:
        return f"{article(noun(label, 1, scene.nouns))} near the centre of the image."
    return f"{article(noun(label, 1, scene.nouns))} {relation(box, image_centre)} the image centre."


KINDS = ("general", "counting", "absolute", "relative", "absolute_count")


def make_captions(scene: Scene, seed: int, key: str) -> list[str]:
    """Five captions, in the order of KINDS."""
    rng = _rng(seed, key)
    return [general(scene, rng), counting(scene, rng), absolute(scene, rng), relative(scene, rng),
            absolute(scene, rng, with_count=True)]
