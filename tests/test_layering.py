"""The three layers of DESIGN.md, checked on the import statements of every project file.

core (models, losses, sharding, convert, text, data readers/records/radiometry, model_dir)
  <- libraries (data.pipeline, train, evaluation, api, tfds_sarclip)
  <- composition (sarclip_jax.cli, configs/, eval/, bench/)

An import may only go down a layer (or stay inside its own library); `train` and `evaluation`
never import each other; only the composition layer imports the TFDS builders; nothing imports
tests or the composition layer; no import cycle, function-level imports included.
"""

from __future__ import annotations

import ast
import pathlib
import shutil

REPO = pathlib.Path(__file__).parent.parent
SCANNED = ("sarclip_jax", "tfds_sarclip", "configs", "eval", "bench")
CORE, LIBRARY, COMPOSITION = 0, 1, 2
NAMES = {CORE: "core", LIBRARY: "library", COMPOSITION: "composition"}

# Longest matching prefix wins; every other sarclip_jax module is core.
LAYER_OF_PREFIX = {
    "sarclip_jax": CORE,
    "sarclip_jax.__init__": LIBRARY,  # the package facade: lazily re-exports the API
    "sarclip_jax.data.pipeline": LIBRARY,
    "sarclip_jax.train": LIBRARY,
    "sarclip_jax.evaluation": LIBRARY,
    "sarclip_jax.api": LIBRARY,
    "tfds_sarclip": LIBRARY,
    "sarclip_jax.cli": COMPOSITION,
    "configs": COMPOSITION,
    "eval": COMPOSITION,
    "bench": COMPOSITION,
}
# A library's own package: imports inside it are free (it is one unit).
LIBRARY_UNITS = ("sarclip_jax.data.pipeline", "sarclip_jax.train", "sarclip_jax.evaluation", "sarclip_jax.api",
                 "tfds_sarclip")
NEVER_EACH_OTHER = (("sarclip_jax.train", "sarclip_jax.evaluation"),)


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int:
    best = max((p for p in LAYER_OF_PREFIX if _matches(module, p)), key=len)
    return LAYER_OF_PREFIX[best]


def unit_of(module: str) -> str:
    if module == "sarclip_jax.__init__":
        return "sarclip_jax.api"  # the facade is the API's front door
    return next((u for u in LIBRARY_UNITS if _matches(module, u)), module)


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Dotted name -> file, for every scanned .py file under `root` (package inits as `pkg.__init__`)."""
    out = {}
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            if "dummy_data" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts)] = path
    return out


def _resolve(name: str, known: set[str]) -> str | None:
    """The project module `name` refers to: itself, its package init, or its longest known prefix."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
        if candidate + ".__init__" in known:
            return candidate + ".__init__"
    return None


def imports(path: pathlib.Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported project module) for every import in the file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` names the submodule when there is one, else the package.
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, known)
            if target is not None:
                found.append((node.lineno, target))
    return found


def violations(root: pathlib.Path = REPO) -> list[str]:
    mods = modules(root)
    known = set(mods) | {"tests"}
    problems, graph = [], {m: set() for m in mods}
    for mod, path in mods.items():
        where = path.relative_to(root)
        for line, target in imports(path, known):
            if target == mod:
                continue
            if _matches(target, "tests"):
                problems.append(f"{where}:{line}: imports {target}: nothing imports tests")
                continue
            graph[mod].add(target)
            here, there = layer_of(mod), layer_of(target)
            if there == COMPOSITION and layer_of(mod) != COMPOSITION:
                problems.append(f"{where}:{line}: {NAMES[here]} module imports {target} (composition)")
            elif there > here or (there == here == LIBRARY and unit_of(mod) != unit_of(target)):
                problems.append(f"{where}:{line}: {NAMES[here]} module {mod} imports {target} ({NAMES[there]}): "
                                "imports only go down a layer")
            elif _matches(target, "tfds_sarclip") and not (_matches(mod, "tfds_sarclip") or here == COMPOSITION):
                problems.append(f"{where}:{line}: {mod} imports the TFDS builders ({target}); only the CLI may")
            for a, b in NEVER_EACH_OTHER:
                if (_matches(mod, a) and _matches(target, b)) or (_matches(mod, b) and _matches(target, a)):
                    problems.append(f"{where}:{line}: {mod} imports {target}: {a} and {b} never import each other")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_project_keeps_its_layers():
    assert violations() == []


def _copy(tmp_path) -> pathlib.Path:
    root = tmp_path / "repo"
    for top in SCANNED:
        shutil.copytree(REPO / top, root / top, ignore=shutil.ignore_patterns("dummy_data", "__pycache__"))
    return root


def test_an_upward_import_is_caught(tmp_path):
    root = _copy(tmp_path)
    losses = root / "sarclip_jax" / "losses" / "reference.py"
    losses.write_text(losses.read_text() + "\n\ndef _late():\n    from sarclip_jax.train import loop  # noqa\n")
    found = violations(root)
    upward = [v for v in found if not v.startswith("import cycle")]
    assert len(upward) == 1 and "losses/reference.py:" in upward[0] and "core module" in upward[0], found


def test_train_importing_evaluation_and_a_builder_import_are_caught(tmp_path):
    root = _copy(tmp_path)
    loop = root / "sarclip_jax" / "train" / "loop.py"
    loop.write_text(loop.read_text() + "\nfrom sarclip_jax.evaluation import report  # noqa\n")
    pipeline = root / "sarclip_jax" / "data" / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\nimport tfds_sarclip.sarclip1m.sarclip1m_dataset_builder  # noqa\n")
    found = "\n".join(violations(root))
    assert "sarclip_jax.train and sarclip_jax.evaluation never import each other" in found
    assert "data/pipeline.py" in found and "tfds_sarclip" in found


def test_a_cycle_is_caught(tmp_path):
    root = _copy(tmp_path)
    records = root / "sarclip_jax" / "data" / "records.py"
    records.write_text(records.read_text() + "\n\ndef _late():\n    from sarclip_jax.data import sar_transforms  # noqa\n")
    found = violations(root)
    assert any(v.startswith("import cycle:") and "sarclip_jax.data.records" in v for v in found), found
