"""Prompt templates and readable class names for zero-shot classification.

The template sets are those of the SARCLIP/SARVLM evaluation scripts, so that zero-shot numbers
computed here compare with the paper's; reports name the set they used.
"""

from __future__ import annotations

from sarclip_jax.data.formats import mstar

SAR_TEMPLATES = (
    "a SAR image of {}.",
    "a radar image of {}.",
    "a synthetic aperture radar image of {}.",
    "SAR imagery showing {}.",
    "a satellite SAR image of {}.",
    "radar remote sensing image of {}.",
    "{}.",
    "a photo of {}.",
    "an image of {}.",
)

OPTICAL_TEMPLATES = (
    "a satellite image of {}.",
    "an aerial image of {}.",
    "an aerial photo of {}.",
    "a remote sensing image of {}.",
    "an overhead view of {}.",
    "a high-resolution satellite image of {}.",
    "imagery showing {}.",
    "an image of {}.",
    "{}.",
)

# The union used for mixed SAR/optical test sets: six of each, then the generic three.
SAR_OPTICAL_TEMPLATES = SAR_TEMPLATES[:6] + OPTICAL_TEMPLATES[:6] + ("a photo of {}.", "an image of {}.", "{}.")

ISPRS_TEMPLATES = (
    "a SAR image of {}.",
    "a radar image showing {}.",
    "synthetic aperture radar image of {}.",
    "SAR land cover image of {}.",
    "{}.",
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "sar": SAR_TEMPLATES,
    "optical": OPTICAL_TEMPLATES,
    "sar_opt": SAR_OPTICAL_TEMPLATES,
    "isprs": ISPRS_TEMPLATES,
    "simple": ("a photo of {}.",),
}

# MSTAR's ten SOC target classes, keyed by their folder names (the one list: the MSTAR reader's).
MSTAR_CLASSES = mstar.CLASSES
# SAMPLE's ten vehicle classes, as its release names the class folders.
SAMPLE_CLASSES = ("2s1", "bmp2", "btr70", "m1", "m2", "m35", "m548", "m60", "t72", "zsu23")

# The synthetic set's target classes (the generator in tfds_sarclip/synthetic.py draws these).
SYNTHETIC_CLASSES = ("ship", "oil slick", "vehicle", "aircraft", "building", "storage tank")

# Readable names of the military vehicles in MSTAR and SAMPLE, one table for prompts and captions
# (keys match after lower-casing and dropping non-alphanumerics).
VEHICLE_NAMES = {
    "2S1": "2S1 self-propelled howitzer", "BMP2": "BMP-2 infantry fighting vehicle",
    "BRDM2": "BRDM-2 armored reconnaissance vehicle", "BTR60": "BTR-60 armored personnel carrier",
    "BTR70": "BTR-70 armored personnel carrier", "D7": "D7 bulldozer", "T62": "T-62 tank", "T72": "T-72 tank",
    "ZIL131": "ZIL-131 military truck", "ZSU234": "ZSU-23-4 self-propelled anti-aircraft gun",
    "M1": "M1 tank", "M2": "M2 infantry fighting vehicle", "M35": "M35 truck", "M548": "M548 tracked carrier",
    "M60": "M60 tank", "ZSU23": "ZSU-23-4 self-propelled anti-aircraft gun",
}

# Readable class names for prompts, keyed by the dataset's label or folder name. The official
# protocol puts folder names into the templates as they are; these are the alternative a report
# names ("class names: mstar"). Keys match after lower-casing and dropping non-alphanumerics, so
# "BulkCarrier", "Bulk_Carrier" and "bulk carrier" are one key.
READABLE_CLASS_NAMES: dict[str, dict[str, str]] = {
    "mstar": {c: VEHICLE_NAMES[c] for c in MSTAR_CLASSES},
    "sample": {c: VEHICLE_NAMES[c.upper()] for c in SAMPLE_CLASSES},
    # FUSAR-Ship 1.0 stores chips under <category>/<subcategory>; both levels are listed.
    "fusar_ship": {
        "Cargo": "cargo ship", "DiveVessel": "diving support vessel", "Dredger": "dredger",
        "Fishing": "fishing boat", "HighSpeedCraft": "high-speed craft", "LawEnforce": "law enforcement vessel",
        "Other": "ship", "Passenger": "passenger ship", "PortTender": "port tender", "Reserved": "ship",
        "SAR": "search and rescue vessel", "Tanker": "tanker", "Tug": "tugboat", "Unspecified": "ship",
        "WingInGrnd": "wing-in-ground craft", "BulkCarrier": "bulk carrier", "ContainerShip": "container ship",
        "GeneralCargo": "general cargo ship", "OreCarrier": "ore carrier", "AggregatesCarrier": "aggregates carrier",
        "OilTanker": "oil tanker", "ChemicalTanker": "chemical tanker", "LPGTanker": "LPG tanker",
        "LNGTanker": "LNG tanker",
    },
    # OpenSARShip (Sentinel-1 chips with AIS ship types).
    "opensarship": {
        "BulkCarrier": "bulk carrier", "ContainerShip": "container ship", "GeneralCargo": "general cargo ship",
        "Cargo": "cargo ship", "Tanker": "tanker", "Fishing": "fishing boat", "Dredging": "dredger",
        "Tug": "tugboat", "Passenger": "passenger ship", "Search": "search and rescue vessel",
        "LawEnforcement": "law enforcement vessel", "Pilot": "pilot boat", "Sailing": "sailing boat",
        "PleasureCraft": "pleasure boat", "Other": "ship", "OtherType": "ship", "Unknown": "ship",
        "LawEnforce": "law enforcement vessel",
    },
    "synthetic": {c: ("an " if c[0] in "aeiou" else "a ") + c for c in SYNTHETIC_CLASSES},
}


def _name_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def readable_class_names(labels: list[str] | tuple[str, ...], names: str | dict[str, str] = "") -> list[str]:
    """The names to put into the templates for `labels`: the labels themselves ("" or
    "as_is", the official protocol), or their entries in a READABLE_CLASS_NAMES set / a dict.
    A label missing from the mapping is an error that lists every missing one."""
    if names in ("", "as_is"):
        return list(labels)
    if isinstance(names, str):
        try:
            names = READABLE_CLASS_NAMES[names]
        except KeyError:
            raise ValueError(f"unknown class-name set {names!r}; known: {sorted(READABLE_CLASS_NAMES)} "
                             f"or 'as_is'") from None
    table = {_name_key(k): v for k, v in dict(names).items()}
    missing = [label for label in labels if _name_key(label) not in table]
    if missing:
        raise ValueError(f"no readable name for labels {missing}; known keys: {sorted(names)}")
    return [table[_name_key(label)] for label in labels]


def get_templates(name_or_templates: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A named template set, or the caller's own list checked for its `{}` placeholder."""
    if isinstance(name_or_templates, str):
        try:
            return TEMPLATE_SETS[name_or_templates]
        except KeyError:
            raise ValueError(
                f"unknown template set {name_or_templates!r}; known: {sorted(TEMPLATE_SETS)}") from None
    templates = tuple(name_or_templates)
    bad = [t for t in templates if t.count("{}") != 1]
    if not templates or bad:
        raise ValueError(f"each template needs exactly one '{{}}' for the class name; bad: {bad or 'none given'}")
    return templates


def caption_nouns(labels) -> dict[str, tuple[str, str]]:
    """{label: (singular, plural)} from VEHICLE_NAMES, for the caption generator."""
    table = {_name_key(k): v for k, v in VEHICLE_NAMES.items()}
    return {label: (table[_name_key(label)], table[_name_key(label)] + "s") for label in labels}
