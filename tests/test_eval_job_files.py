"""The evaluation jobs in the top-level eval/ folder load by path and build their evaluators."""

import pathlib

import pytest

from sarclip_jax.config_loading import load_config
from sarclip_jax.evaluation import build_evaluator

REPO = pathlib.Path(__file__).parent.parent
FOLDER = REPO / "tfds_sarclip" / "sar_zeroshot" / "dummy_data"
RELEASE_CSV = REPO / "tfds_sarclip" / "sarclip1m" / "dummy_data" / "release" / "retrieval_file_list.csv"

JOBS = {
    "mstar_soc.py": f"folder={FOLDER}",
    "imagefolder.py": f"folder={FOLDER},class_names=mstar",
    "sarclip1m_retrieval.py": f"csv={RELEASE_CSV}",
}


def test_every_job_file_is_listed_here():
    assert sorted(p.name for p in (REPO / "eval").glob("*.py")) == sorted([*JOBS, "synthetic_test.py"])


@pytest.mark.parametrize("job", sorted(JOBS))
def test_job_builds_its_evaluators(job):
    cfg = load_config(f"{REPO / 'eval' / job}:{JOBS[job]}")
    assert cfg.evals
    for name, entry in cfg.evals.items():
        evaluator = build_evaluator(entry.kind, {**entry.to_dict(), "name": name})
        assert evaluator.name == name and evaluator.data.items


@pytest.mark.parametrize("job", sorted(JOBS))
def test_job_without_its_data_says_what_it_needs(job):
    with pytest.raises(ValueError, match=f"eval/{job} needs"):
        load_config(str(REPO / "eval" / job))


def test_the_main_job_evaluates_with_the_synthetic_job():
    """configs/default.py takes its evaluations from eval/synthetic_test.py: one definition."""
    train = load_config(str(REPO / "configs" / "default.py"))
    job = load_config(f"{REPO / 'eval' / 'synthetic_test.py'}:dataset={train.data.dataset},data_dir={train.data.data_dir}")
    assert train.evals.to_dict() == job.evals.to_dict()
