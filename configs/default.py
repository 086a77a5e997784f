"""The embedded default: a tiny SARCLIP trained on synthetic SAR scenes, on a CPU, in minutes.

    sarclip train --config configs/default.py --workdir runs/default
    sarclip train --config configs/default.py:smoke=True --workdir /tmp/smoke    # seconds, for CI
    sarclip train --config configs/default.py --workdir runs/b --config.optim.lr=1e-3

Builds the synthetic scenes in data_dir if they are not there, trains a sentencepiece tokenizer on
their training captions, trains, evaluates zero-shot classification and retrieval on the
held-out test split, and writes WORKDIR/report.md.
"""

import pathlib

import ml_collections

from sarclip_jax.config_loading import load_config, parse_arg

IMAGE_SIZE = 64
VOCAB = 256  # the synthetic captions use about 60 distinct words
# A synthetic config built with `dataset_build`'s sizes under this name (any name starting with
# "synthetic" is a synthetic config).
DATASET = "sarclip1m/synthetic_default"


def get_config(arg=None):
    a = parse_arg(arg, smoke=False, data_dir="data/tensorflow_datasets")
    c = ml_collections.ConfigDict()
    c.seed = 0

    # unroll_layers: two blocks per tower compile in a second unrolled, and the step runs ~15%
    # faster on a CPU than under lax.scan (docs/performance.md).
    # vision_pool_type "avg": the image embedding is the mean of the patch tokens (OpenCLIP's
    # pool_type="avg"), which adds up every object's evidence: zero-shot 70.2 -> 72.5% (docs/training.md).
    # init_logit_scale None: CLIP's log(1/0.07); a float starts the softmax scale elsewhere.
    c.model = dict(name="tiny", dtype="float32", param_dtype="float32", remat="none", attention="xla", init_from="",
                   unroll_layers=True, vision_pool_type="avg", init_logit_scale=None)
    # block_size 0: the loss picks its tile (or the plain rows) within memory_mib per device;
    # positives "text": equal captions are positives (needs caption_ids in the batches).
    # label_weight 0.5: plus half the loss with same-label pairs positive; zero-shot 64.2 -> 70.2%
    # at the same text->image R@10 (docs/training.md "Label-group term").
    c.loss = dict(kind="clip", block_size=0, memory_mib=64.0, positives="pair", label_weight=0.5)

    # Built when missing (one process only); sizes are the synthetic generator's. 24,000 training
    # scenes: with 6,000, zero-shot stops near 59% however long it trains; 48,000 gain nothing more
    # (docs/performance.md).
    c.dataset_build = dict(enabled=True, num_train=24000, num_validation=500, num_test=1000,
                           image_size=IMAGE_SIZE, seed=0)
    # The Grain training pipeline (sarclip_jax.data.pipeline.PipelineConfig fields).
    # Trained from scratch on SAR text: a sentencepiece tokenizer learnt from the training captions.
    c.tokenizer_build = dict(enabled=True, vocab_size=VOCAB)
    tokenizer = f"{a.data_dir}/tokenizers/{DATASET.replace('/', '_')}_sp{VOCAB}.model"
    c.data = dict(dataset=DATASET, data_dir=a.data_dir, split="train", image_size=IMAGE_SIZE,
                  tokenizer=tokenizer, context_length=32, num_workers=0, read_threads=2,
                  exclude="",  # exclude: an overlap.json of `sarclip data overlap` (records left out)
                  caption_weights={},  # per caption kind, e.g. {"counting": 2.0}; empty: uniform
                  captions_per_image=1,  # 5: every caption of a scene each step, ~1.5x the step (docs/training.md)
                  record_cache_mib=320.0)  # the 24,000 parsed and decoded records take ~230 MiB

    c.mesh = dict(data=-1, fsdp=1, tensor=1)
    c.batch_size = 64
    c.accum_steps = 1
    c.total_steps = 1500
    c.optim = dict(lr=1e-3, end_lr=1e-5, warmup_steps=100, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.1,
                   clip_norm=1.0, freeze=[])

    c.log_every = 50
    c.eval_every = 500
    c.checkpoint = dict(every=500, keep=2, best_metric="zero_shot/top1", best_mode="max", async_save=True)
    # The held-out evaluations: the same job `sarclip eval --config eval/synthetic_test.py` runs.
    c.evals = _synthetic_test_evals(DATASET, a.data_dir)
    c.tensorboard = True
    c.peak_flops = 0.0  # per device; 0 looks the device up (none is known for CPUs)
    c.distributed = dict(mode="auto", coordinator_address="", num_processes=0, process_id=-1)

    if a.smoke:  # everything shrunk: a run that proves the wiring in seconds
        c.dataset_build.update(num_train=256, num_validation=64, num_test=128)
        c.data.dataset = "sarclip1m/synthetic_smoke"
        c.data.tokenizer = f"{a.data_dir}/tokenizers/sarclip1m_synthetic_smoke_sp{VOCAB}.model"
        c.evals = _synthetic_test_evals(c.data.dataset, a.data_dir)
        c.batch_size, c.total_steps, c.log_every, c.eval_every = 16, 8, 4, 8
        c.checkpoint.every = 4
        c.optim.warmup_steps = 2
    return c


def _synthetic_test_evals(dataset: str, data_dir: str) -> ml_collections.ConfigDict:
    job = pathlib.Path(__file__).parent.parent / "eval" / "synthetic_test.py"
    return load_config(f"{job}:dataset={dataset},data_dir={data_dir}").evals
