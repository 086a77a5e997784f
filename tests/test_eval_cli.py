"""`sarclip eval`: a model directory and an OpenCLIP .safetensors scored on the same data, side by side."""

import json

import pytest
from etils import epath

import sarclip_jax
from sarclip_jax import model_dir as checkpoints
from sarclip_jax.cli import main as cli
from sarclip_jax.convert import export_openclip
from sarclip_jax.evaluation import build_evaluator
from sarclip_jax.evaluation.compare import column_labels, markdown_table, side_by_side
from sarclip_jax.models import create_model, get_model_config
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

FOLDER = epath.Path(__file__).parent.parent / "tfds_sarclip" / "sar_zeroshot" / "dummy_data"

CONFIG = '''
import ml_collections

def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.evals = dict(
        zero_shot=dict(kind="zero_shot", dataset={dataset!r}, data_dir={data_dir!r}, classes="synthetic",
                       batch_size=4),
        retrieval=dict(kind="retrieval", dataset={dataset!r}, data_dir={data_dir!r}, protocol="multi_caption",
                       batch_size=8),
        mstar=dict(kind="zero_shot", folder={folder!r}, class_names="mstar", batch_size=8),
    )
    return c
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    builder = sarclip1m.Builder(config=sarclip1m.synthetic_config(2, 2, 16, image_size=32, seed=9),
                                data_dir=str(root / "tfds"))
    builder.download_and_prepare(file_format="array_record")
    dataset = builder.info.full_name.rsplit("/", 1)[0]
    config = root / "evals.py"
    config.write_text(CONFIG.format(dataset=dataset, data_dir=str(root / "tfds"), folder=str(FOLDER)))
    model_dir = checkpoints.save_model(create_model(get_model_config("tiny"), seed=0), root / "sar_tiny")
    weights = export_openclip(create_model(get_model_config("tiny"), seed=1), root / "clip_tiny.safetensors")
    return root, config, str(model_dir), str(weights), dataset


def test_two_checkpoints_side_by_side_with_every_report(setup, capsys):
    root, config, model_dir, weights, dataset = setup
    out = root / "out"
    rc = cli(["eval", "--config", str(config), "--checkpoint", model_dir, "--checkpoint", weights, "--model", "tiny",
              "--out", str(out), "--config.evals.zero_shot.batch_size=8"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| metric | sar_tiny | clip_tiny |" in printed

    # Each column holds what the evaluator gives when run on that checkpoint directly.
    comparison = json.loads((out / "comparison.json").read_text())
    for label, path, name in (("sar_tiny", model_dir, None), ("clip_tiny", weights, "tiny")):
        model, _, tokenizer = sarclip_jax.load(path, model_name=name)
        direct = dict(build_evaluator("zero_shot", dict(dataset=dataset, data_dir=str(root / "tfds"),
                                                        classes="synthetic", batch_size=8), tokenizer=tokenizer)
                      .run(model))
        assert comparison["metrics"][label]["zero_shot/top1"] == pytest.approx(direct["zero_shot/top1"])
        row = next(line for line in printed.splitlines() if line.startswith("| zero_shot/top1 |"))
        assert f"{direct['zero_shot/top1']:.2f}" in row
    # different weights, different numbers
    assert comparison["metrics"]["sar_tiny"] != comparison["metrics"]["clip_tiny"]
    assert "mstar/top3" in comparison["metrics"]["sar_tiny"] and "mstar/top5" not in comparison["metrics"]["sar_tiny"]

    for label in ("sar_tiny", "clip_tiny"):
        assert {p.name for p in (out / label / "zero_shot").iterdir()} == {"results.json", "report.md",
                                                                          "confusion_matrix.png"}
        assert {p.name for p in (out / label / "retrieval").iterdir()} == {"results.json", "report.md",
                                                                          "recall_at_k.png"}
        results = json.loads((out / label / "mstar" / "results.json").read_text())
        assert results["counts"]["images_failed"] == 1 and results["class_names"]["set"] == "mstar"
    assert json.loads((out / "clip_tiny" / "retrieval" / "results.json").read_text())["checkpoint"] == weights
    assert "| retrieval/mean_recall |" in (out / "comparison.md").read_text()


def test_only_and_bad_arguments(setup, capsys):
    root, config, model_dir, weights, _ = setup
    out = root / "only"
    assert cli(["eval", "--config", str(config), "--checkpoint", model_dir, "--only", "mstar", "--out", str(out)]) == 0
    assert {p.name for p in (out / "sar_tiny").iterdir()} == {"mstar"}
    with pytest.raises(SystemExit, match=r"--only names \['zeroshot'\]"):
        cli(["eval", "--config", str(config), "--checkpoint", model_dir, "--only", "zeroshot"])
    with pytest.raises(SystemExit, match="unknown config field"):
        cli(["eval", "--config", str(config), "--checkpoint", model_dir, "--config.evals.zero_shot.batch=8"])
    with pytest.raises(SystemExit, match="needs model_name"):
        cli(["eval", "--config", str(config), "--checkpoint", weights, "--only", "mstar", "--out", str(out)])


def test_side_by_side_formatting():
    header, rows = side_by_side({"a": [("x/top1", 50.0), ("x/top5", 90.0)], "b": [("x/top1", 12.345)]})
    assert header == ["metric", "a", "b"]
    assert rows == [["x/top1", "50.00", "12.35"], ["x/top5", "90.00", "–"]]
    assert markdown_table(header, rows).splitlines()[1] == "|---|---:|---:|"
    assert column_labels(["runs/a/model", "w/ViT.safetensors", "x/model/"]) == ["model#1", "ViT", "model#3"]
