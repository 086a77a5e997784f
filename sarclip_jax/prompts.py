"""Prompt templates and readable class names for zero-shot classification.

The template sets are those of the SARCLIP/SARVLM evaluation scripts, so that zero-shot numbers
computed here compare with the paper's; reports name the set they used.
"""

from __future__ import annotations

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

# MSTAR's ten SOC target classes, keyed by their folder names.
MSTAR_CLASSES = ("2S1", "BMP2", "BRDM2", "BTR60", "BTR70", "D7", "T62", "T72", "ZIL131", "ZSU234")


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
