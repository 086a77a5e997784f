"""ATRNet-STAR (40 civilian vehicle types), ground-range 8-bit release, as its official README
and ATRBench code describe it (built from that description; no real file was available, see
docs/data.md "ATRNet-STAR"):

    ATRNet-STAR*/[<ground range folder>/]SOC_40classes/{train,test}/<type>/<band>_<pol>_<dep>_<azi>_<id>.tif
    (+ an .xml annotation beside each image)

The XML holds the image facts at its top level (filename, height, width, depth, format, ...),
one `object` element per labelled vehicle (target_id, class, subclass, type, length, width,
height with units, xmin/xmax/ymin/ymax), and scene and sensor facts (scene_name, band,
polarization, depression_angle "15°", ...). `width` and `height` therefore occur twice: the image's
are read outside `object`, the vehicle's physical size inside it. Other vehicles in a scene are
labelled "other"; the record's target is the object that is not. Whether the image size sits in a
`size` element and the box in a `bndbox` element is not documented, so both forms are read.

Only the SOC-40 setting is read: its train and test splits together are the whole release, and
the other settings re-split the same images. The label is the vehicle type; captions name its
subclass ("medium SUV"). The complex slant-range .mat release is not read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from etils import epath

from sarclip_jax.data.formats import paths
from tfds_sarclip.sources import common

NAME = "atrnet_star"


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["atrnet"])


def _is_soc40(p: epath.Path) -> bool:
    return p.is_dir() and p.name.lower().replace("-", "_").startswith("soc_40")


def _setting(root: epath.Path) -> epath.Path | None:
    """SOC_40classes at the top of the source folder or one level down (under a ground-range folder)."""
    level = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda q: q.name)
    for p in level:
        if _is_soc40(p):
            return p
    for folder in level:
        for p in sorted(folder.iterdir(), key=lambda q: q.name):
            if _is_soc40(p):
                return p
    return None


def _text(node: ET.Element | None, tag: str) -> str:
    """The text of the first `tag` below node (any depth), stripped; "" when absent."""
    found = node.find(f".//{tag}") if node is not None else None
    return found.text.strip() if found is not None and found.text else ""


def _number(text: str, unit: str = "") -> float:
    """'15°' -> 15.0, '1.79m' -> 1.79; ValueError naming the text otherwise."""
    cleaned = text.strip().rstrip("°").strip()
    if unit and cleaned.endswith(unit):
        cleaned = cleaned[: -len(unit)]
    return float(cleaned)


def parse_annotation(xml_path: epath.Path) -> dict:
    """The facts of one ATRNet-STAR XML file; ValueError naming the file when unusable."""
    try:
        tree = ET.fromstring(xml_path.read_bytes())
    except ET.ParseError as e:
        raise ValueError(f"not readable as XML ({e})") from None
    objects = tree.findall(".//object")
    targets = [o for o in objects if _text(o, "type").lower() != "other" and _text(o, "class").lower() != "other"]
    if not targets:
        raise ValueError(f"no labelled vehicle: {len(objects)} object element(s), all 'other' or none")
    target = targets[0]
    in_objects = {id(n) for o in objects for n in o.iter()}
    image: dict[str, str] = {}  # image, scene and sensor facts: every tag outside the objects
    for node in tree.iter():
        if id(node) not in in_objects and node is not tree:
            image.setdefault(node.tag, (node.text or "").strip())
    out = {k: _text(target, k) for k in ("target_id", "type", "subclass", "class", "xmin", "ymin", "xmax", "ymax")}
    out.update({k: image.get(k, "") for k in ("width", "height", "polarization", "band", "scene_name",
                                               "depression_angle")})
    out["length_m"] = _text(target, "length")
    return out


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    setting = _setting(root)
    split_dir = common.child(setting, split) if setting is not None else None
    if split_dir is None:
        if split != "validation":
            options.note(f"{NAME}: no SOC_40classes/{split} folder under {root}: no {split} split from this source")
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
                box = common.pixel_box(_number(a["xmin"]), _number(a["ymin"]), _number(a["xmax"]),
                                       _number(a["ymax"]), _number(a["width"]), _number(a["height"]))
                objects = [(label, box)]
            except ValueError as e:
                problem = f"{xml.name}: {e}"
        nouns = {label: (noun, noun + "s")} if noun else {}
        yield common.record(NAME, root, f, f.read_bytes, seed=seed, label=label,
                            objects=objects or [(label, common.CENTRE_BOX)], nouns=nouns, polarisation=pol,
                            sensor=f"airborne {band}-band" if band else "airborne", problem=problem)
