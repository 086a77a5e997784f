"""The main job end to end (smoke size): build, train, evaluate, report; then `sarclip eval` on
the trained checkpoint, on the synthetic test split and on an ImageFolder of SAR chips."""

import json
import pathlib

from sarclip_jax import model_dir
from sarclip_jax.cli import main as cli

ZEROSHOT_FIXTURE = pathlib.Path(__file__).parents[1] / "tfds_sarclip" / "sar_zeroshot" / "dummy_data"


def test_main_job_then_sarclip_eval(tmp_path, capsys):
    data, run = tmp_path / "tfds", tmp_path / "run"
    spec = f"configs/default.py:smoke=True,data_dir={data}"
    assert cli(["train", "--config", spec, "--workdir", str(run), "--config.total_steps=6"]) == 0

    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_step"] == 6 and summary["stopped_by"] == "completed"
    assert {"zero_shot/top1", "retrieval/mean_recall", "retrieval_any_match/t2i_r@10"} <= set(summary["eval"])
    report = (run / "report.md").read_text()
    assert "| zero_shot/top1 |" in report and "at random:" in report
    for name, files in {"zero_shot": ["results.json", "report.md", "confusion_matrix.png"],
                        "retrieval": ["results.json", "report.md", "recall_at_k.png"]}.items():
        for f in files:
            assert (run / "eval" / name / f).stat().st_size > 0, (name, f)
    assert model_dir.is_model_dir(run)  # WORKDIR/model, loadable by sarclip_jax.load and sarclip eval
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "train/loss" in m] == [4, 6]

    out = tmp_path / "reports"
    assert cli(["eval", "--config", spec, "--checkpoint", str(run), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "zero_shot/top1" in table
    comparison = json.loads((out / "comparison.json").read_text())
    # the same checkpoint and data as the training run's final evaluation: the same number
    assert abs(_find(comparison, "zero_shot/top1") - summary["eval"]["zero_shot/top1"]) < 1e-6

    folder = tmp_path / "folder.py"
    folder.write_text(
        "import ml_collections\n"
        "def get_config(arg=None):\n"
        f"    return ml_collections.ConfigDict(dict(evals=dict(mstar=dict(kind='zero_shot', folder='{ZEROSHOT_FIXTURE}',"
        " templates='sar', batch_size=4))))\n")
    assert cli(["eval", "--config", str(folder), "--checkpoint", str(run), "--out", str(tmp_path / "folder_out")]) == 0
    results = list((tmp_path / "folder_out").rglob("results.json"))
    assert len(results) == 1
    r = json.loads(results[0].read_text())
    assert r["counts"]["images_scored"] > 0 and len(r["per_class"]) == 3


def _find(tree, key):
    if isinstance(tree, dict):
        if key in tree and isinstance(tree[key], (int, float)):
            return tree[key]
        for v in tree.values():
            found = _find(v, key)
            if found is not None:
                return found
    if isinstance(tree, list):
        for v in tree:
            found = _find(v, key)
            if found is not None:
                return found
    return None
