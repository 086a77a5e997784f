"""Test set-up shared by the whole suite.

Runs before any test module imports JAX: sharding tests need 8 virtual CPU devices, and Grain's
spawned workers read absl flags, which must be parsed once in the parent.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# Tests build the same few tiny programs again and again, in this process and in the trainer
# subprocesses of the fault tests: all share one persistent compilation cache per session
# (train_harness.child_env passes it on), so each program compiles once.
os.environ["SARCLIP_TEST_CHILD_JAX_CACHE"] = tempfile.mkdtemp(prefix="sarclip_test_jax_cache_")
atexit.register(shutil.rmtree, os.environ["SARCLIP_TEST_CHILD_JAX_CACHE"], ignore_errors=True)
if not os.environ.get("SARCLIP_TEST_NO_CACHE"):
    os.environ.update(JAX_COMPILATION_CACHE_DIR=os.environ["SARCLIP_TEST_CHILD_JAX_CACHE"],
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
                      JAX_COMPILATION_CACHE_MAX_SIZE=str(4 << 30))

import sys  # noqa: E402

from absl import flags  # noqa: E402

flags.FLAGS(sys.argv[:1], known_only=True)


import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model():
    """The tiny CLIP with random weights (seed 0), for evaluator tests."""
    from sarclip_jax.models import create_model, get_model_config

    return create_model(get_model_config("tiny"), seed=0)


@pytest.fixture(scope="session")
def tokenizer():
    """OpenAI's CLIP BPE (its vocabulary ships with open_clip_torch)."""
    from sarclip_jax.text.clip_bpe import ClipTokenizer

    return ClipTokenizer()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> pathlib.Path:
    """WORKDIR of the smoke main job (`configs/default.py:smoke=True`, 6 steps), trained once per
    session: a tiny model whose text tower embeds the 256 ids of the sentencepiece tokenizer the
    job learnt from its captions (WORKDIR/model/tokenizer.model), as a new user's first run gives."""
    from sarclip_jax.cli import main as cli

    root = tmp_path_factory.mktemp("smoke_main_job")
    spec = f"{REPO / 'configs' / 'default.py'}:smoke=True,data_dir={root / 'tfds'}"
    assert cli(["train", "--config", spec, "--workdir", str(root / "run"), "--config.total_steps=6"]) == 0
    return root / "run"


@pytest.fixture(scope="session")
def sources_build(tmp_path_factory):
    """sarclip1m/sources built once from the seven sources' fixture trees (read-only for tests)."""
    import tensorflow_datasets as tfds

    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    d = tmp_path_factory.mktemp("sources")
    b = sarclip1m.Builder(config="sources", data_dir=str(d))
    manual = pathlib.Path(sarclip1m.__file__).parent / "dummy_data" / "sources"
    b.download_and_prepare(file_format="array_record",
                           download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return b
