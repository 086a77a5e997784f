"""notebooks/quickstart.ipynb runs end to end on CPU against a tiny checkpoint."""

import pathlib

import nbclient
import nbformat

from sarclip_jax import model_dir as checkpoints
from sarclip_jax.models import create_model, get_model_config

NOTEBOOK = pathlib.Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def _text_outputs(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


def test_quickstart_runs_on_a_tiny_checkpoint(tmp_path, monkeypatch):
    model_dir = checkpoints.save_model(create_model(get_model_config("tiny"), seed=0), tmp_path / "tiny")
    monkeypatch.setenv("SARCLIP_CHECKPOINT", str(model_dir))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend returns the figures
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = _text_outputs(nb)
    assert f"{model_dir}: image size 64, embedding 64" in text
    assert "6 images; first one (128, 128) uint8" in text
    assert "ranking: [" in text and "zero_shot/top1" in text and "# Zero-shot classification" in text
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(figures) == 2  # the zero-shot panel and the search results
