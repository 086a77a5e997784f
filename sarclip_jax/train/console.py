"""What a training run shows on the terminal, and where everything else goes.

The console holds a handful of lines: one at the start, one per preparation step, a progress
bar over the training steps (plain progress lines, about ten in all, when stderr is not a
terminal), one line per evaluation and one at the end. Python logging of every library (absl,
Orbax, TFDS, Grain, JAX) and of our own modules goes to WORKDIR/log.txt; warnings still reach
the console, except a few known ones that ask nothing of the user.

    with console.Console(verbose=False) as c:   # `sarclip train --verbose` shows everything
        c.log_to(workdir)                       # WORKDIR/log.txt, from the first record on
        console.say("step %d: ...", step)       # a console line (also written to the log)
        progress = console.Progress(total_steps, start_step, log_every)

Without a `Console` (the trainer used as a library) console lines are ordinary INFO records of the
`sarclip_jax.console` logger, and the progress bar appears only when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping

CONSOLE = "sarclip_jax.console"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_NAME = "log.txt"

_console = logging.getLogger(CONSOLE)
log = logging.getLogger(__name__)

# Warnings that ask nothing of the user: to the log file only (logger-name prefix, message regex).
NOISE = (
    ("absl", r"Using custom data configuration"),  # TFDS, for every builder config passed as an object
    ("absl", r"Variant folder .* has no dataset_info\.json"),  # TFDS, before a dataset is first built
)

_verbose = False  # set by Console; `quiet_output` consults it


def say(msg: str, *args) -> None:
    """One line for the console (and the log file)."""
    _console.info(msg, *args)


def is_verbose() -> bool:
    return _verbose


# --- platform -------------------------------------------------------------------------------


def choose_platform() -> str | None:
    """On a machine with no TPU and no GPU in sight, pins JAX to the CPU.

    Left to itself JAX probes every installed backend; without a TPU that probe logs "Unable to
    initialize backend 'tpu'" and, when libtpu is installed, libtpu prints TPU_* environment
    warnings on stderr. JAX's own hardware checks (PCI vendor ids, device files) say whether a
    TPU or GPU is there at all. Returns the platform chosen, or None when JAX chooses (an
    accelerator is present, or JAX_PLATFORMS is set already).
    """
    if os.environ.get("JAX_PLATFORMS"):
        return None
    try:
        from jax._src import hardware_utils as hw

        accelerator = (hw.num_available_tpu_chips_and_device_id()[0] > 0 or hw.has_visible_nvidia_gpu()
                       or hw.num_available_amd_gpus(stop_at=1) > 0)
    except Exception:  # a JAX without these helpers: let it probe
        return None
    if accelerator:
        return None
    import jax

    os.environ["JAX_PLATFORMS"] = "cpu"  # child processes (Grain workers) too
    jax.config.update("jax_platforms", "cpu")
    return "cpu"


# --- logging --------------------------------------------------------------------------------


class _ConsoleFilter(logging.Filter):
    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose
        self.noise = [(name, re.compile(pattern)) for name, pattern in NOISE]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == CONSOLE:
            return True
        if self.verbose:
            return True
        if record.levelno < logging.WARNING:
            return False
        msg = record.getMessage()
        return not any(record.name.startswith(name) and p.match(msg) for name, p in self.noise)


class _ConsoleFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if record.name == CONSOLE else super().format(record)


class _TqdmHandler(logging.Handler):
    """Writes through tqdm, so that a line never tears the progress bar."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
            self.stream.flush()
        except Exception:
            self.handleError(record)


class Console:
    """Handlers on the root logger: every INFO record to the log file, console lines and warnings
    to `stream`. Until `log_to(workdir)` records wait in memory, then go to WORKDIR/log.txt."""

    def __init__(self, *, verbose: bool = False, stream=None):
        global _verbose
        self.root, self.absl = logging.getLogger(), logging.getLogger("absl")
        self._saved = (self.root.level, self.absl.level, _verbose)
        self.root.setLevel(logging.INFO)
        self.absl.setLevel(logging.INFO)  # absl's --verbosity flag, once parsed, would say WARNING
        logging.captureWarnings(True)
        _verbose = verbose
        self.console = _TqdmHandler(stream if stream is not None else sys.stderr)
        self.console.setLevel(logging.INFO)
        self.console.addFilter(_ConsoleFilter(verbose))
        self.console.setFormatter(_ConsoleFormatter())
        self.buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
        self.buffer.setLevel(logging.INFO)
        self.file: logging.Handler | None = None
        self.path: str | None = None
        self._remote = None
        self.root.addHandler(self.console)
        self.root.addHandler(self.buffer)

    def log_to(self, workdir) -> str:
        """Starts WORKDIR/log.txt (appended to on a resume); returns its path."""
        from etils import epath

        target = epath.Path(workdir) / LOG_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        if "://" not in str(target):
            local = str(target)
        else:  # gs:// and the like cannot append: write locally, copy on close
            fd, local = tempfile.mkstemp(prefix="sarclip_log_", suffix=".txt")
            os.close(fd)
            self._remote = (local, target)
        self.file = logging.FileHandler(local, mode="a", encoding="utf-8")
        self.file.setLevel(logging.INFO)
        self.file.setFormatter(logging.Formatter(FILE_FORMAT))
        self.buffer.setTarget(self.file)
        self.buffer.flush()
        self.root.removeHandler(self.buffer)
        self.buffer.close()
        self.buffer = None
        self.root.addHandler(self.file)
        self.path = str(target)
        return self.path

    def close(self) -> None:
        global _verbose
        for h in (self.console, self.buffer, self.file):
            if h is not None:
                self.root.removeHandler(h)
                h.close()
        self.buffer = self.file = None
        if self._remote is not None:
            local, target = self._remote
            with contextlib.suppress(Exception):
                target.write_text(open(local, encoding="utf-8").read())
                os.remove(local)
            self._remote = None
        logging.captureWarnings(False)
        self.root.setLevel(self._saved[0])
        self.absl.setLevel(self._saved[1])
        _verbose = self._saved[2]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _LogWriter(io.TextIOBase):
    """A text stream whose lines become INFO records of `logger`."""

    def __init__(self, logger: logging.Logger):
        self.logger, self.pending = logger, ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        self.pending += s
        *lines, self.pending = re.split(r"[\r\n]", self.pending)
        for line in lines:
            if line.strip():
                self.logger.info("%s", line.rstrip())
        return len(s)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.info("%s", self.pending.rstrip())
        self.pending = ""


@contextlib.contextmanager
def quiet_output(name: str = "stdout"):
    """Within, library prints to stdout and TFDS progress bars go to the log file (unless verbose)."""
    if _verbose:
        yield
        return
    try:
        from tensorflow_datasets.core.utils import tqdm_utils
    except ImportError:  # pragma: no cover - TFDS is a dependency
        tqdm_utils = None
    was_active = getattr(tqdm_utils, "_active", True)
    if tqdm_utils is not None:
        tqdm_utils.display_progress_bar(False)
    writer = _LogWriter(logging.getLogger(f"{CONSOLE}.{name}"))
    try:
        with contextlib.redirect_stdout(writer):
            yield
    finally:
        writer.flush()
        if tqdm_utils is not None:
            tqdm_utils.display_progress_bar(was_active)


# --- progress -------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


# Per evaluator, the numbers an eval line shows (by the last part of the metric name).
HEADLINE = ("top1", "t2i_r@10", "i2t_r@10")


def headline(results: Mapping[str, float]) -> dict[str, float]:
    """The few numbers of an evaluation worth a glance: HEADLINE ones, else each evaluator's first."""
    groups: dict[str, dict[str, float]] = {}
    for k, v in results.items():
        groups.setdefault(k.split("/", 1)[0] if "/" in k else "", {})[k] = v
    shown = {}
    for group in groups.values():
        picked = {k: v for k, v in group.items() if k.rsplit("/", 1)[-1] in HEADLINE}
        shown.update(picked or dict([next(iter(group.items()))]))
    return shown


class Progress:
    """A tqdm bar over the training steps, refreshed only at `update` (every log_every steps).

    When stderr is not a terminal, plain lines instead, about `lines` of them over the run.
    Every update also goes to the log file (logger sarclip_jax.train.console) in full.
    """

    def __init__(self, total_steps: int, start_step: int, log_every: int, *, enabled: bool = True,
                 bar: bool | None = None, lines: int = 10, stream=None):
        self.total, self.start = total_steps, start_step
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        remaining = max(total_steps - start_step, 1)
        self.plain_every = max(log_every, -(-remaining // max(lines, 1) // log_every) * log_every)
        self._bar = None
        self._first: tuple[int, float] | None = None  # (step, time) of the first update: compiling is over
        self._t0 = time.time()
        if enabled and (bar if bar is not None else _isatty(self.stream)):
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, file=self.stream, dynamic_ncols=True,
                             mininterval=0, smoothing=0.3, unit="step",
                             bar_format="step {n_fmt}/{total_fmt} |{bar}| ETA {remaining}{postfix}")

    def eta(self, step: int) -> float:
        now = time.time()
        if self._first is None or step <= self._first[0]:
            done = max(step - self.start, 1)
            return (now - self._t0) / done * (self.total - step)
        first_step, first_time = self._first
        return (now - first_time) / (step - first_step) * (self.total - step)

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        text = _train_text(metrics)
        eta = self.eta(step)
        if self._first is None:
            self._first = (step, time.time())
        log.info("step %d/%d %s (eta %s)", step, self.total,
                 " ".join(f"{k}={v:.4g}" for k, v in metrics.items()), duration(eta))
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(step - self._bar.n)
        elif step % self.plain_every == 0 or step == self.total:
            say("step %d/%d  %s  ETA %s", step, self.total, text, duration(eta))

    def evaluation(self, step: int, results: Mapping[str, float], seconds: float) -> None:
        if not self.enabled or not results:
            return
        numbers = "  ".join(f"{k} {v:.1f}" for k, v in headline(results).items())
        say("step %d: %s (%.1f s)", step, numbers, seconds)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _train_text(metrics: Mapping[str, float]) -> str:
    parts = []
    if "loss" in metrics:
        parts.append(f"loss {metrics['loss']:.3f}")
    if "images_per_second" in metrics:
        parts.append(f"{metrics['images_per_second']:.0f} img/s")
    if "mfu" in metrics:
        parts.append(f"MFU {100 * metrics['mfu']:.1f}%")
    return "  ".join(parts)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except Exception:
        return False
