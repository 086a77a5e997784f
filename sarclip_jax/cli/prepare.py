"""What a run needs before it starts: its dataset built and its tokenizer trained.

The embedded default trains from scratch on synthetic SAR captions, so its tokenizer is a small
sentencepiece model trained on the training split (seconds) rather than CLIP's 49k-token BPE,
whose vocabulary file only ships with open_clip_torch.

    config.dataset_build = dict(enabled=True, num_train=24000, ...)   # synthetic sizes
    config.tokenizer_build = dict(enabled=True, vocab_size=1024)      # writes config.data.tokenizer
"""

from __future__ import annotations

import logging
import tempfile
import time

import jax
from etils import epath

log = logging.getLogger(__name__)


def ensure_dataset(cfg) -> None:
    """Builds cfg.data.dataset from cfg.dataset_build when it is missing and building is enabled."""
    from sarclip_jax.cli import data as data_cli

    build = cfg.get("dataset_build", {})
    name, data_dir = cfg.data.dataset, cfg.data.data_dir
    overrides = {k: v for k, v in build.items() if k != "enabled"} if build else {}
    builder = data_cli.make_builder(name, data_dir, overrides)
    if builder.is_prepared():
        return
    if not build or not build.get("enabled", False):
        raise FileNotFoundError(f"dataset {name} is not built in {data_dir}; run `sarclip data build {name} "
                                f"--data_dir {data_dir}` (with --manual_dir for real data) first")
    _single_process(f"dataset {name} is missing in {data_dir}")
    from sarclip_jax.train import console

    console.say("building dataset %s in %s", name, data_dir)
    t0 = time.time()
    with console.quiet_output("tfds"):  # TFDS's prints and progress bars: to the log file
        builder.download_and_prepare(file_format="array_record")
    log.info("built %s in %.1fs", name, time.time() - t0)


def ensure_tokenizer(cfg) -> None:
    """Trains the sentencepiece model cfg.data.tokenizer on the training captions if it is missing."""
    spec = str(cfg.data.tokenizer)
    build = cfg.get("tokenizer_build", {})
    if not spec.endswith(".model") or epath.Path(spec).exists():
        return
    if not build or not build.get("enabled", False):
        raise FileNotFoundError(f"tokenizer {spec} does not exist; train it with `sarclip tokenizer train` "
                                f"or set tokenizer_build.enabled=True")
    _single_process(f"tokenizer {spec} is missing")
    from sarclip_jax.data import pipeline, records
    from sarclip_jax.text.sentencepiece_tokenizer import train_sentencepiece

    source = pipeline.data_source(pipeline.PipelineConfig.from_dict(cfg.data))
    out = epath.Path(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = epath.Path(tmp) / "captions.txt"
        with corpus.open("w") as f:
            for i in range(len(source)):
                for caption in records.captions_of(source[i]):
                    f.write(caption.replace("\n", " ") + "\n")
        model = train_sentencepiece([corpus], build.vocab_size, epath.Path(tmp) / "tok")
        out.write_bytes(model.read_bytes())
    from sarclip_jax.train import console

    console.say("trained a %d-token sentencepiece tokenizer on %d training records: %s", build.vocab_size,
                len(source), spec)


def _single_process(what: str) -> None:
    if jax.process_count() > 1:
        raise FileNotFoundError(f"{what}; prepare it once before a multi-process run")
