"""The main job's console fits on one screen; the libraries' logs go to WORKDIR/log.txt.

Runs the smoke main job in a child process (stdout and stderr are pipes, so the progress bar
becomes a few plain lines), with neither JAX_PLATFORMS nor the 8 virtual devices of the test
suite: the CLI picks the CPU itself and must not print JAX's TPU probe.
"""

import io
import logging
import os
import re
import subprocess
import sys

import pytest

from sarclip_jax.train import console

INFO_LINE = re.compile(r"\bINFO\b")


def _train(tmp_path, workdir, *extra):
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
    # The second run reuses the first one's compiled programs.
    env.update(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    cmd = [sys.executable, "-m", "sarclip_jax.cli", "train",
           "--config", f"configs/default.py:smoke=True,data_dir={tmp_path / 'tfds'}", "--workdir", str(workdir), *extra]
    proc = subprocess.run(cmd, env=env, cwd=os.path.dirname(os.path.dirname(__file__)), capture_output=True,
                          text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def test_main_job_console_is_short_and_the_log_file_holds_the_rest(tmp_path):
    run = tmp_path / "run"
    out = _train(tmp_path, run)
    lines = out.splitlines()
    assert len(lines) <= 30, out
    assert not [x for x in lines if INFO_LINE.search(x)], out
    assert not re.search(r"(?i)tpu|libtpu", out), out
    assert lines[0].startswith("sarclip train: tiny on sarclip1m/synthetic_smoke") and str(run / "log.txt") in lines[0]
    assert sum(x.startswith("building dataset") for x in lines) == 1
    assert sum("sentencepiece tokenizer" in x for x in lines) == 1
    assert any(re.match(r"step 8/8 .*loss \d.*img/s.*ETA", x) for x in lines), out
    assert any(re.match(r"step 8: .*zero_shot/top1 \d+\.\d .*\(\d+\.\d s\)$", x) for x in lines), out
    assert lines[-1].startswith("completed at step 8") and lines[-1].endswith(str(run / "report.md"))

    log = (run / "log.txt").read_text()
    for expected in ("INFO absl: ", "CheckpointManager", "Downloading and preparing dataset",
                     "INFO sarclip_jax.train.loop: mesh", "INFO sarclip_jax.train.console: step 4/8",
                     "INFO sarclip_jax.console: step 8: "):
        assert expected in log, expected
    assert "Unable to initialize backend" not in log  # JAX never probed the TPU

    # --verbose: the libraries' INFO lines are back on the console (a second run, resumed).
    out = _train(tmp_path, run, "--verbose", "--config.total_steps=12")
    assert "resumed from step 8" in out
    assert len([x for x in out.splitlines() if x.startswith("INFO absl: ")]) > 20, out[-3000:]
    assert "step 12/12" in out


def test_console_lines_warnings_and_library_info_go_where_they_should(tmp_path):
    stream = io.StringIO()
    with console.Console(stream=stream) as screen:
        logging.getLogger("absl").info("before the log file exists")
        screen.log_to(tmp_path)
        console.say("a console line %d", 1)
        logging.getLogger("orbax").info("library chatter")
        logging.getLogger("sarclip_jax.data.pipeline").warning("record 3 is unreadable")
        logging.getLogger("absl").warning("Using custom data configuration: Sarclip1mConfig(...)")
        with console.quiet_output("tfds"):
            print("Downloading and preparing dataset ...")
    shown = stream.getvalue().splitlines()
    assert shown == ["a console line 1", "WARNING sarclip_jax.data.pipeline: record 3 is unreadable"]
    log = (tmp_path / "log.txt").read_text()
    for expected in ("before the log file exists", "a console line 1", "library chatter", "record 3 is unreadable",
                     "Using custom data configuration", "Downloading and preparing dataset"):
        assert expected in log, expected
    ours = str(tmp_path / "log.txt")
    assert not [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == ours]  # closed again


def test_verbose_console_shows_library_info(tmp_path):
    stream = io.StringIO()
    with console.Console(verbose=True, stream=stream) as screen:
        screen.log_to(tmp_path)
        logging.getLogger("orbax").info("library chatter")
        with console.quiet_output():
            print("a library print")
    assert "INFO orbax: library chatter" in stream.getvalue()


@pytest.mark.parametrize("total,log_every,expected", [(1500, 50, 10), (8, 4, 2), (100, 1, 10), (30, 50, 1)])
def test_plain_progress_lines_are_few(total, log_every, expected):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger(console.CONSOLE).addHandler(handler)
    logging.getLogger(console.CONSOLE).setLevel(logging.INFO)
    try:
        progress = console.Progress(total, 0, log_every, stream=stream)
        for step in range(log_every, total + log_every, log_every):
            step = min(step, total)
            progress.update(step, {"loss": 1.0, "images_per_second": 100.0})
        progress.evaluation(total, {"zero_shot/top1": 41.23, "zero_shot/top5": 90.0, "retrieval/t2i_r@10": 9.8,
                                    "retrieval/r@1": 1.0, "probe/10_shot/accuracy": 50.0}, 12.34)
        progress.close()
    finally:
        logging.getLogger(console.CONSOLE).removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len([x for x in lines if x.startswith(f"step {total}/") or re.match(r"step \d+/", x)]) == expected, lines
    assert lines[-1] == f"step {total}: zero_shot/top1 41.2  retrieval/t2i_r@10 9.8  probe/10_shot/accuracy 50.0 (12.3 s)"
