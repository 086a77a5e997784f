"""Paper-scale SARCLIP on SARCLIP-1M with the official recipe.

    # domain transfer: start from optical remote-sensing CLIP weights (RemoteCLIP), train on SAR
    sarclip train --workdir gs://bucket/sarclip-l14 \
        --config configs/sarclip1m.py:model=ViT-L-14-quickgelu,init_from=gs://bucket/RemoteCLIP-ViT-L-14.pt
    sarclip train --config configs/sarclip1m.py:model=ViT-B-32,smoke=True --workdir /tmp/smoke

Recipe (official scripts): global batch 1024, AdamW lr 5e-5, weight decay 0.01, cosine schedule,
1000 warm-up steps, 10 epochs, mixed precision, gradient clipping at 1.0. An epoch of the
official CSV is ~1.7M image-caption rows; our records hold an image with all its captions and
draw one per visit, so 10 epochs of rows = 10 x 1.7M / 1024 = 16,602 steps.

The dataset must be built first (`sarclip data build sarclip1m/release --manual_dir ...`, or
`sarclip1m/sources`). Weights trained from OpenAI's CLIP (OpenAI, RemoteCLIP) use QuickGELU:
choose the `-quickgelu` model name for them.

Leave-one-source-out (as SARVLM's "without MSTAR" checkpoint): `holdout=mstar` (any source name
of sarclip1m/sources) leaves that source's records out of training and adds its zero-shot job on
the dataset's test split, restricted to that source:

    sarclip train --config configs/sarclip1m.py:dataset=sarclip1m/sources,holdout=mstar --workdir ...
"""

import ml_collections

from sarclip_jax.config_loading import parse_arg

ROWS_PER_EPOCH = 1_700_000


def get_config(arg=None):
    a = parse_arg(arg, model="ViT-B-32", init_from="", dataset="sarclip1m/release",
                  data_dir="~/tensorflow_datasets", batch_size=1024, epochs=10, fsdp=1, tensor=1, smoke=False,
                  holdout="")
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = dict(name=a.model, dtype="bfloat16", param_dtype="float32", remat=_remat(a.model), attention="xla",
                   init_from=a.init_from)
    # block_size 0: the loss picks its tile (or the plain rows) within memory_mib per device;
    # positives "text": equal captions are positives (needs caption_ids in the batches).
    # label_weight > 0 adds the loss with same-label pairs positive (records with a class label).
    c.loss = dict(kind="clip", block_size=0, memory_mib=64.0, positives="pair", label_weight=0.0)
    c.dataset_build = dict(enabled=False)
    c.data = dict(dataset=a.dataset, data_dir=a.data_dir, split="train", image_size=_image_size(a.model),
                  tokenizer="clip", context_length=77, num_workers=8, read_threads=4,
                  exclude="",  # an overlap.json of `sarclip data overlap` (records left out)
                  exclude_sources=[])  # sources left out (see holdout)
    c.mesh = dict(data=-1, fsdp=a.fsdp, tensor=a.tensor)
    c.batch_size = a.batch_size
    c.accum_steps = 1
    c.total_steps = a.epochs * ROWS_PER_EPOCH // a.batch_size
    c.optim = dict(lr=5e-5, end_lr=0.0, warmup_steps=1000, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.01,
                   clip_norm=1.0, freeze=[])
    c.log_every = 100
    c.eval_every = 2000
    c.checkpoint = dict(every=1000, keep=3, best_metric="retrieval/mean_recall", best_mode="max", async_save=True)
    c.evals = dict(
        retrieval=dict(kind="retrieval", dataset=a.dataset, split="test", data_dir=a.data_dir,
                       protocol="one_to_one", subset_size=5000, batch_size=256),
    )
    if a.holdout:
        c.data.exclude_sources = [a.holdout]
        c.evals[f"{a.holdout}_zero_shot"] = dict(
            kind="zero_shot", dataset=a.dataset, split="test", data_dir=a.data_dir, source=a.holdout,
            templates="sar", classes="mstar" if a.holdout == "mstar" else None, batch_size=256)
    c.tensorboard = True
    c.peak_flops = 0.0
    c.distributed = dict(mode="auto", coordinator_address="", num_processes=0, process_id=-1)

    if a.smoke:  # the same wiring on the tiny synthetic set, on a CPU
        c.model.update(dtype="float32", remat="none")
        c.dataset_build = dict(enabled=True)
        c.data.update(dataset="sarclip1m/synthetic_tiny", data_dir="data/tensorflow_datasets", num_workers=0,
                      read_threads=2)
        c.evals.retrieval.update(dataset="sarclip1m/synthetic_tiny", data_dir="data/tensorflow_datasets",
                                 subset_size=0, batch_size=32)
        c.batch_size, c.total_steps, c.log_every, c.eval_every = 8, 4, 2, 4
        c.optim.warmup_steps = 1
        c.checkpoint.every = 2
    return c


def _remat(model: str) -> str:
    # "dots" keeps every matmul output of a block for the backward pass: ViT-L-14 then holds
    # ~130 MB per image, 47 GiB per chip on a v5p-8 at batch 1024. "full" keeps the block inputs
    # (~14 MB per image; 20 GiB per chip) for a third more forward FLOPs. docs/performance.md.
    return "full" if model.startswith("ViT-L") else "dots"


def _image_size(model: str) -> int:
    return 336 if model.endswith("-336") else 224
