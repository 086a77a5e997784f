"""ImageFolder layouts: one folder per class, optionally under split folders. Read by the
sar_zeroshot builder and by the evaluators alike.

    root/<class>/<image>             -> split "test" (zero-shot test sets are shipped this way)
    root/<split>/<class>/<image>     -> splits named by the folders (train, val, test, ...)

A folder with a single sub-folder is a wrapper, not a one-class set, and is looked through: so
MSTAR trees as converted from the CDs (TARGETS/TEST/15_DEG/<class>/SN_<serial>/<image>) and
FUSAR-Ship's <category>/<subcategory>/<image> read as they are. Class names are the sorted
sub-folder names, taken as they are (the zero-shot protocol puts them into the templates
unchanged); images may sit at any depth below their class folder.
"""

from __future__ import annotations

from etils import epath

from sarclip_jax.data.formats import paths

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
NOT_AN_IMAGE = "not_an_image"
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
                 "validation": "validation", "test": "test", "testing": "test"}


def _visible_dirs(path: epath.Path) -> list[epath.Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _unwrap(folder: epath.Path) -> epath.Path:
    """Looks through a folder whose only sub-folder itself holds folders (so a one-class set,
    root/<class>/<images>, stays one class) and which holds no images; split folders stay."""
    while True:
        dirs = _visible_dirs(folder)
        if len(dirs) != 1 or dirs[0].name.lower() in SPLIT_FOLDERS or not _visible_dirs(dirs[0]):
            return folder
        if any(is_candidate(f) and f.suffix and not f.is_dir() for f in folder.iterdir()):
            return folder
        folder = dirs[0]


def layout(root: epath.Path) -> dict[str, epath.Path]:
    """split -> folder holding the class folders."""
    top = _unwrap(root)
    dirs = _visible_dirs(top)
    if not dirs:
        raise FileNotFoundError(f"ImageFolder {root}: no class folders")
    if all(d.name.lower() in SPLIT_FOLDERS for d in dirs):
        return {SPLIT_FOLDERS[d.name.lower()]: _unwrap(d) for d in dirs}
    return {"test": top}


def class_names(root: epath.Path) -> list[str]:
    names = set()
    for folder in layout(root).values():
        names.update(d.name for d in _visible_dirs(folder))
    return sorted(names)


def files(split_root: epath.Path) -> list[tuple[str, epath.Path]]:
    """(class name, file) pairs, sorted, hidden files left out."""
    out = []
    for class_dir in _visible_dirs(split_root):
        out.extend((class_dir.name, f) for f in paths.walk_files(class_dir))
    return out


def is_candidate(path: epath.Path) -> bool:
    """Image suffixes, and suffix-less or numbered files (raw MSTAR chips are named HB03333.015)."""
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix == "" or suffix[1:].isdigit()
