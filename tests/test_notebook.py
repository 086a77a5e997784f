"""notebooks/quickstart.ipynb runs end to end on CPU, against a tiny checkpoint (CLIP BPE) and
against the main job's own model (its 256-id sentencepiece tokenizer), through every cell."""

import pathlib

import nbclient
import nbformat
import pytest

from sarclip_jax import model_dir as checkpoints
from sarclip_jax.models import create_model, get_model_config

NOTEBOOK = pathlib.Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def _text_outputs(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


def _run(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SARCLIP_CHECKPOINT", str(checkpoint))
    monkeypatch.delenv("SARCLIP_IMAGES", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend returns the figures
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    sources = "\n".join(c.source for c in nb.cells)
    assert "sarclip_jax.evaluation.images" not in sources and "sar_readers" not in sources  # the API only
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    text = _text_outputs(nb)
    assert f"{checkpoint}: image size 64, embedding 64" in text
    assert "6 images; first one 0.tif" in text
    assert "file vs array cosine: 1.0000" in text  # a GeoTIFF and its array, stated scale, embed alike
    assert "ranking: [" in text and "zero_shot/top1" in text and "# Zero-shot classification" in text
    scores = next(line for line in text.splitlines() if line.startswith("{'zero_shot/"))
    assert "nan" not in scores and "inf" not in scores, scores
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(figures) == 2  # the zero-shot panel and the search results
    return text


def test_quickstart_runs_on_a_tiny_checkpoint(tmp_path, monkeypatch):
    model_dir = checkpoints.save_model(create_model(get_model_config("tiny"), seed=0), tmp_path / "tiny")
    text = _run(model_dir, tmp_path, monkeypatch)
    assert "tokenizer: ClipTokenizer with 49408 ids" in text


@pytest.mark.slow
def test_quickstart_runs_on_the_main_jobs_model(smoke_run, tmp_path, monkeypatch):
    # The model a new user gets from `sarclip train --config configs/default.py`: its text tower
    # embeds 256 sentencepiece ids, so every cell must use that tokenizer (CLIP BPE ids gather NaN).
    text = _run(smoke_run, tmp_path, monkeypatch)
    assert "tokenizer: SentencePieceTokenizer with 256 ids" in text
