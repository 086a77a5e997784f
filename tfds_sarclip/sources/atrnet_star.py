"""ATRNet-STAR (40 civilian vehicle types), ground-range 8-bit release, as its README describes:

    ATRNet-STAR*/<setting>/{train,test}/<type>/<band>_<pol>_<dep>_<azi>_<id>.tif  (+ .xml beside it)

Each XML annotation holds filename, height, width, class / subclass / type, the target box
(xmin, ymin, xmax, ymax in pixels), scene_name, band, polarization, depression_angle, ... .
Fields are looked up by tag anywhere in the XML, so the exact nesting does not matter. Only the
SOC-40 setting (folder name starting "SOC_40") is read: it holds every released image once,
and the other settings re-split the same images. Its pre-defined test split stays test.
The label is the vehicle type; captions name its subclass ("medium SUV"). The complex
slant-range .mat release is not read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from etils import epath

from sarclip_jax.data.formats import paths
from tfds_sarclip.sources import common

NAME = "atrnet_star"


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["atrnet"])


def _setting(root: epath.Path) -> epath.Path | None:
    for p in sorted(root.iterdir(), key=lambda q: q.name):
        if p.is_dir() and p.name.lower().replace("-", "_").startswith("soc_40"):
            return p
    return None


def _field(tree: ET.Element, *tags: str) -> str:
    for tag in tags:
        node = tree.find(f".//{tag}")
        if node is not None and node.text and node.text.strip():
            return node.text.strip()
    return ""


def parse_annotation(xml_path: epath.Path) -> dict:
    tree = ET.fromstring(xml_path.read_text())
    out = {k: _field(tree, k) for k in ("type", "subclass", "class", "polarization", "band", "scene_name",
                                        "depression_angle", "xmin", "ymin", "xmax", "ymax")}
    out["width"] = _field(tree, "width")
    out["height"] = _field(tree, "height")
    return out


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    setting = _setting(root)
    split_dir = common.child(setting, split) if setting is not None else None
    if split_dir is None:
        return
    for f in paths.walk_files(split_dir):
        if f.suffix.lower() not in (".tif", ".tiff", ".png", ".jpg"):
            continue
        xml = f.with_suffix(".xml")
        objects, label, pol, band, noun, problem = [], f.parent.name, "", "", None, ""
        if xml.exists():
            try:
                a = parse_annotation(xml)
                label = a["type"] or label
                noun = common.words(a["subclass"] or a["class"] or label)
                pol, band = a["polarization"].upper(), a["band"].upper()
                box = common.pixel_box(float(a["xmin"]), float(a["ymin"]), float(a["xmax"]), float(a["ymax"]),
                                       float(a["width"]), float(a["height"]))
                objects = [(label, box)]
            except (ET.ParseError, ValueError) as e:
                problem = f"{xml.name}: {e}"
        nouns = {label: (noun, noun + "s")} if noun else {}
        yield common.record(NAME, root, f, f.read_bytes, seed=seed, label=label,
                            objects=objects or [(label, common.CENTRE_BOX)], nouns=nouns, polarisation=pol,
                            sensor=f"airborne {band}-band" if band else "airborne", problem=problem)
