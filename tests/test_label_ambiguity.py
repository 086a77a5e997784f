"""Where a class label stands among a record's annotated objects, and the split's ceiling."""

import itertools

from sarclip_jax.data import label_ambiguity as L

RECORDS = [("ship", ["ship"]),                                 # one class
           ("ship", ["ship", "ship", "oil slick"]),            # the label leads
           ("ship", ["ship", "oil slick"]),                    # a two-way tie
           ("vehicle", ["vehicle", "aircraft", "building"]),   # a three-way tie
           ("tank", ["building", "building", "tank"]),         # outnumbered
           ("", ["ship"]), ("ship", [])]                       # no label, no objects: skipped


def test_standing_of_each_case():
    assert [L.standing(label, objects) for label, objects in RECORDS] == [
        L.ONE_CLASS, L.LEADS, L.TIED, L.TIED, L.OUTNUMBERED, "", ""]


def test_perfect_reader_equals_counting_its_choices():
    """Plain reference: every class the reader may name (one with the most objects), equally likely."""
    for label, objects in RECORDS[:5]:
        most = max(objects.count(c) for c in objects)
        choices = sorted({c for c in objects if objects.count(c) == most})
        assert abs(L.perfect_reader_top1(label, objects) - choices.count(label) / len(choices)) < 1e-12


def test_label_ambiguity_over_a_split():
    got = L.label_ambiguity(RECORDS)
    assert got["records"] == 5 and got["ambiguous"] == 3 and got["ambiguous_rate"] == 0.6
    assert abs(got["ceiling"] - (1 + 1 + 1 / 2 + 1 / 3 + 0) / 5) < 1e-6
    assert got["ambiguous_by_class"] == {"ship": 1, "vehicle": 1, "tank": 1}
    assert L.label_ambiguity([])["records"] == 0
    # The order of records changes nothing.
    assert all(L.label_ambiguity(p) == got for p in itertools.islice(itertools.permutations(RECORDS), 20))
