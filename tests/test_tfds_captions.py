"""The caption generator (four kinds from labels and boxes) and the synthetic scene generator."""

import collections

import numpy as np
import pytest

from tfds_sarclip import captions as C
from tfds_sarclip import synthetic as S


def box_at(cy, cx, half=0.03):
    return (cy - half, cx - half, cy + half, cx + half)


@pytest.mark.parametrize("centre,region", [((0.1, 0.1), "upper left"), ((0.1, 0.5), "top"), ((0.2, 0.9), "upper right"),
                                          ((0.5, 0.1), "left"), ((0.5, 0.5), "centre"), ((0.5, 0.8), "right"),
                                          ((0.9, 0.05), "lower left"), ((0.8, 0.5), "bottom"), ((0.95, 0.95), "lower right")])
def test_regions_of_the_3x3_grid(centre, region):
    assert C.region_of(box_at(*centre)) == region


def test_relations_follow_the_larger_offset():
    a, b = box_at(0.5, 0.2), box_at(0.45, 0.8)
    assert C.relation(a, b) == "to the left of" and C.relation(b, a) == "to the right of"
    assert C.relation(box_at(0.1, 0.5), box_at(0.8, 0.4)) == "above"
    assert C.relation(box_at(0.9, 0.5), box_at(0.2, 0.6)) == "below"


def test_five_captions_of_the_four_kinds_state_class_count_and_position():
    scene = C.Scene(objects=[("ship", box_at(0.1, 0.1)), ("ship", box_at(0.2, 0.25)), ("ship", box_at(0.15, 0.2)),
                             ("oil slick", box_at(0.15, 0.8))], background="sea")
    general, counting, absolute, relative, absolute_count = C.make_captions(scene, seed=0, key="x")
    assert "ships" in general and "an oil slick" in general and "at sea" in general
    assert "three ships" in counting and "one oil slick" in counting
    assert "ships in the upper left" in absolute and "an oil slick in the upper right" in absolute
    assert relative == "three ships are to the left of an oil slick."
    assert "three ships in the upper left" in absolute_count and "one oil slick in the upper right" in absolute_count


def test_spread_and_split_groups():
    two_regions = C.Scene(objects=[("ship", box_at(0.1, 0.1)), ("ship", box_at(0.2, 0.2)), ("ship", box_at(0.5, 0.8))])
    text = C.absolute(two_regions, np.random.default_rng(0), with_count=True)
    assert "two ships in the upper left with one more on the right" in text
    spread = C.Scene(objects=[("car", box_at(0.1, 0.1)), ("car", box_at(0.5, 0.5)), ("car", box_at(0.9, 0.9))])
    assert "three cars spread across the image" in C.absolute(spread, np.random.default_rng(0), with_count=True)
    pair = C.Scene(objects=[("tank", box_at(0.5, 0.7)), ("tank", box_at(0.5, 0.2))])
    assert C.relative(pair, np.random.default_rng(0)) == "a tank to the left of another tank."
    alone = C.Scene(objects=[("bridge", box_at(0.1, 0.5))])
    assert C.relative(alone, np.random.default_rng(0)) == "a bridge above the image centre."


def test_captions_are_deterministic_per_key_and_vary_between_keys():
    scene = C.Scene(objects=[("vehicle", box_at(0.8, 0.2))], background="farmland")
    assert C.make_captions(scene, 0, "a") == C.make_captions(scene, 0, "a")
    variants = {tuple(C.make_captions(scene, 0, str(k))) for k in range(30)}
    assert len(variants) > 3
    facts = [c for v in variants for c in v]
    assert all("vehicle" in c for c in facts)


def test_empty_scene_and_irregular_nouns():
    assert all(c.strip() for c in C.make_captions(C.Scene(), 0, "e"))
    assert C.counted("aircraft", 3) == "three aircraft"
    assert C.counted("bus", 2) == "two buses"
    assert C.counted("ship", 14) == "14 ships"
    assert [C.article(w) for w in ("M1 tank", "SUV", "T72 tank", "oil slick", "BMP2 vehicle", "harbour")] == [
        "an M1 tank", "an SUV", "a T72 tank", "an oil slick", "a BMP2 vehicle", "a harbour"]
    nouns = {"T72": ("T72 tank", "T72 tanks")}
    scene = C.Scene(objects=[("T72", box_at(0.5, 0.5))], nouns=nouns)
    assert "a T72 tank" in C.make_captions(scene, 0, "m")[0]


# --- synthetic scenes ---------------------------------------------------------------------------------

def scenes(n, size=96, seed=0):
    return [S.generate_scene(np.random.default_rng([seed, 0, i]), size) for i in range(n)]


def test_scene_is_a_pure_function_of_its_seed():
    a = S.generate_scene(np.random.default_rng([5, 0, 1]), 64)
    b = S.generate_scene(np.random.default_rng([5, 0, 1]), 64)
    c = S.generate_scene(np.random.default_rng([5, 0, 2]), 64)
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert a.objects == b.objects and a.background == b.background
    assert not np.array_equal(a.intensity, c.intensity)


def test_groups_sit_in_one_cell_and_every_count_and_cell_occurs_for_every_class():
    seen_counts, seen_cells = collections.defaultdict(set), collections.defaultdict(set)
    for sc in scenes(800, size=64):
        main = sc.objects[0][0]
        group = [b for label, b in sc.objects if label == main]
        cells = {C.region_of(b) for b in group}
        assert len(cells) == 1, sc.objects
        assert (main in S.SEA_CLASSES) == (sc.background == "sea")
        others = [label for label, _ in sc.objects if label != main]
        assert len(others) <= 1 and all((o in S.SEA_CLASSES) == (sc.background == "sea") for o in others)
        seen_counts[main].add(len(group))
        seen_cells[main].add(cells.pop())
        assert np.all(np.isfinite(sc.intensity)) and sc.intensity.min() >= 0
    for cls in S.CLASSES:
        assert seen_counts[cls] == set(range(1, S.MAX_COUNT[cls] + 1)), cls
        assert len(seen_cells[cls]) == 9, cls


def _db(x):
    return 10 * np.log10(np.maximum(x, 1e-10))


def test_targets_show_in_the_pixels():
    """The inner half of each target's box: bright targets stand above the scene's median dB,
    oil slicks below it (median against median, so speckle's log bias cancels)."""
    contrast = collections.defaultdict(list)
    for sc in scenes(300):
        db = _db(sc.intensity)
        n = db.shape[0]
        for label, (y0, x0, y1, x1) in sc.objects:
            cy, cx, hy, hx = (y0 + y1) / 2 * n, (x0 + x1) / 2 * n, (y1 - y0) / 4 * n, (x1 - x0) / 4 * n
            inner = db[int(cy - hy):int(np.ceil(cy + hy)) + 1, int(cx - hx):int(np.ceil(cx + hx)) + 1]
            contrast[label].append(np.median(inner) - np.median(db))
    for label in ("ship", "vehicle", "aircraft", "building", "storage tank"):
        assert np.median(contrast[label]) > 3.0, (label, np.median(contrast[label]))
    assert np.median(contrast["oil slick"]) < -3.0, np.median(contrast["oil slick"])


def test_the_group_cell_can_be_found_from_pixels_alone():
    """A trivial detector (bright-pixel counts per grid cell) finds the stated cell for most bright
    single-group scenes, so the position words are recoverable from the image."""
    hits = total = 0
    for sc in scenes(400):
        main = sc.objects[0][0]
        if main == "oil slick" or len({label for label, _ in sc.objects}) > 1:
            continue
        db = _db(sc.intensity)
        size = db.shape[0]
        bright = db > np.median(db) + 10
        third = size // 3
        counts = bright[:3 * third, :3 * third].reshape(3, third, 3, third).sum(axis=(1, 3))
        row, col = np.unravel_index(np.argmax(counts), (3, 3))
        hits += C.REGION_NAMES[row][col] == C.region_of(sc.objects[0][1])
        total += 1
    assert total > 100 and hits / total > 0.85, hits / total


def test_speckle_has_the_scene_number_of_looks():
    enl = collections.defaultdict(list)
    for sc in scenes(200, size=96):
        if sc.background != "desert":
            continue
        patch = sc.intensity[:16, :16] if C.region_of(sc.objects[0][1]) != "upper left" else sc.intensity[-16:, -16:]
        enl[sc.looks].append(patch.mean() ** 2 / patch.var())
    for looks, values in enl.items():
        assert 0.6 * looks < np.median(values) < 1.3 * looks, (looks, np.median(values))


def test_caption_kinds_travel_with_their_captions(tmp_path):
    from etils import epath

    from sarclip_jax.data.formats import caption_csv
    from tfds_sarclip import features

    f = tmp_path / "train.csv"
    f.write_text("imgpath,caption,kind\na.png,two ships,counting\na.png,,general\nb.png,a bridge,\n")
    assert caption_csv.read_rows_with_kinds(epath.Path(f)) == [("a.png", "two ships", "counting"),
                                                               ("a.png", "", "general"), ("b.png", "a bridge", "unknown")]
    f.write_text("imgpath,caption\na.png,two ships\n")
    assert caption_csv.read_rows_with_kinds(epath.Path(f)) == [("a.png", "two ships", "unknown")]
    raw = features.RawRecord(source="s", image_id="x", load=lambda: np.zeros((4, 4), np.uint8), scale="display",
                             captions=["", "one ship", "a ship on the left"],
                             caption_kinds=["general", "counting", "absolute"])
    example = features.to_example(raw)  # the empty caption goes, and its kind with it
    assert example["captions"] == ["one ship", "a ship on the left"]
    assert example["caption_kinds"] == ["counting", "absolute"]


def test_repeated_caption_statistics_equal_a_plain_count():
    import itertools

    from sarclip_jax.text.caption_ids import caption_key
    from tfds_sarclip.caption_stats import CaptionStats

    records = [["one ship.", "a ship at sea", "A ship at sea ."], ["one ship", "two tanks"], ["a bridge"],
               ["two tanks", "a bridge", "an oil slick"]]
    stats = CaptionStats()
    for caps in records:
        stats.add(caps)
    got = stats.summary()
    # Plain reference: every ordered pair of different records, every pair of captions they may draw.
    q = sum(sum(caption_key(a) == caption_key(b) for a in r for b in s) / (len(r) * len(s))
            for r, s in itertools.permutations(records, 2)) / (len(records) * (len(records) - 1))
    assert abs(got["same_caption_probability"] - q) < 1e-12 and q > 0
    assert got["false_negatives_per_batch"]["64"] == round(64 * 63 * q, 3)
    keys = [[caption_key(c) for c in caps] for caps in records]
    in_others = sum(any(k in other for j, other in enumerate(keys) if j != i) for i, ks in enumerate(keys) for k in ks)
    assert got["duplicate_rate"] == round(in_others / 9, 6) and got["distinct_captions"] == 5

