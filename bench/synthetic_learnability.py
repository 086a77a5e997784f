"""Learnability of the synthetic SARCLIP-1M scenes: trains the tiny CLIP on freshly generated
scenes (8-bit, 64 px) and probes whether, for held-out scenes, the true caption scores above the
same caption with one fact changed (count, region or class; chance 0.5), plus retrieval.

    python bench/synthetic_learnability.py                         # GPU: 100k scenes, 30k steps
    N_TRAIN=4000 STEPS=2500 BATCH=64 python bench/synthetic_learnability.py   # a CPU-sized run

Environment knobs: N_TRAIN, N_TEST, STEPS, BATCH, LR, MODEL (a models.config name), VOCAB (a CLIP
BPE .gz; default: the one open_clip_torch ships).
"""
import multiprocessing as mp
import os
import re
import time

import numpy as np

from tfds_sarclip import captions as C
from tfds_sarclip import synthetic as S

SIZE = 64
VOCAB = os.environ.get("VOCAB", "clip")
N_TRAIN = int(os.environ.get("N_TRAIN", "100000"))
N_TEST = int(os.environ.get("N_TEST", "1000"))
STEPS = int(os.environ.get("STEPS", "20000"))
BATCH = int(os.environ.get("BATCH", "256"))
LR = float(os.environ.get("LR", "1e-3"))
_TOK = None


def tok(texts):
    global _TOK
    if _TOK is None:
        from sarclip_jax.text.tokenizer import build_tokenizer
        _TOK = build_tokenizer(VOCAB)
    return _TOK(texts)


def gen(args):
    split, start, n = args
    imgs = np.empty((n, SIZE, SIZE), np.uint8)
    caps, meta = [], []
    for k in range(n):
        i = start + k
        sc = S.generate_scene(np.random.default_rng([0, split, i]), SIZE)
        imgs[k] = S.to_display_uint8(sc.intensity)
        caps.append(C.make_captions(C.Scene(sc.objects, sc.background), 0, f"{split}/{i}"))
        meta.append((sc.objects[0][0], sc.background))
    ids = tok([c for cs in caps for c in cs]).reshape(n, 5, -1)
    return imgs, ids, caps, meta


def dataset(split, n, pool, chunk=2000):
    parts = pool.map(gen, [(split, s, min(chunk, n - s)) for s in range(0, n, chunk)])
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            [c for p in parts for c in p[2]], [m for p in parts for m in p[3]])


def main():
    t0 = time.time()
    with mp.get_context("fork").Pool(os.cpu_count()) as pool:
        train_imgs, train_ids, _, _ = dataset(0, N_TRAIN, pool)
        test_imgs, _, test_caps, test_meta = dataset(2, N_TEST, pool)
    print(f"data: {len(train_imgs)} train, {len(test_imgs)} test scenes in {time.time() - t0:.0f}s", flush=True)

    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from sarclip_jax.data.preprocess import OPENAI_MEAN, OPENAI_STD
    from sarclip_jax.losses.reference import clip_loss
    from sarclip_jax.models import create_model, get_model_config

    print("devices", jax.devices(), "jax", jax.__version__, flush=True)
    model = create_model(get_model_config(os.environ.get("MODEL", "tiny")), 0)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    warm = min(500, STEPS // 10)
    sched = optax.warmup_cosine_decay_schedule(0.0, LR, warm, STEPS, LR * 0.01)
    tx = optax.adamw(sched, b2=0.98, weight_decay=0.1)
    opt_state = tx.init(params)
    mean, std = jnp.asarray(OPENAI_MEAN), jnp.asarray(OPENAI_STD)

    def prep(u8):
        x = u8.astype(jnp.float32)[..., None] / 255.0
        return (x - mean) / std  # (B, H, W, 3) by broadcasting the band

    def loss_fn(p, images, ids):
        m = nnx.merge(graphdef, p, rest)
        return clip_loss(m.encode_image(prep(images), normalize=True), m.encode_text(ids, normalize=True),
                         m.logit_scale[...])

    @jax.jit
    def step(p, s, images, ids):
        loss, g = jax.value_and_grad(loss_fn)(p, images, ids)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    d_imgs, d_ids = jax.device_put(train_imgs), jax.device_put(train_ids)

    @jax.jit
    def batch(key):
        k1, k2 = jax.random.split(key)
        idx = jax.random.choice(k1, d_imgs.shape[0], (BATCH,), replace=False)
        which = jax.random.randint(k2, (BATCH,), 0, 5)
        return d_imgs[idx], d_ids[idx, which]

    key = jax.random.PRNGKey(0)
    t0 = time.time()
    for i in range(STEPS):
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, *batch(sub))
        if (i + 1) % 2000 == 0:
            print(f"step {i + 1} loss {float(loss):.3f} ({time.time() - t0:.0f}s)", flush=True)

    m = nnx.merge(graphdef, params, rest)
    enc_i = jax.jit(lambda x: m.encode_image(prep(x), normalize=True))
    enc_t = jax.jit(lambda t: m.encode_text(t, normalize=True))
    img = np.asarray(enc_i(jnp.asarray(test_imgs)))

    def text(captions):
        return np.asarray(enc_t(jnp.asarray(tok(captions))))

    full = [c[4] for c in test_caps]
    tf = text(full)
    sim = img @ tf.T
    order = np.argsort(-sim, axis=1)
    ranks = np.array([np.where(order[i] == i)[0][0] for i in range(len(sim))])
    print(f"retrieval, {len(sim)} test scenes, count+region caption: I2T R@1 {np.mean(ranks < 1):.3f} "
          f"R@5 {np.mean(ranks < 5):.3f} R@10 {np.mean(ranks < 10):.3f} (chance R@1 {1 / len(sim):.4f})")
    num = {w: i for i, w in enumerate(C.NUMBER_WORDS)}
    regions = list(C.REGION_PHRASES.values())
    rng = np.random.default_rng(0)

    def swap_count(c, _):
        ws = c.rstrip(".").split()
        idx = [i for i, w in enumerate(ws) if w in num and num[w] >= 1]
        if not idx:
            return None
        i = idx[0]
        n = num[ws[i]]
        new = n + 1 if n == 1 else n - 1
        rest = " ".join(ws[i + 1:])
        for sg, pl in C.NOUNS.values():
            if sg != pl and n == 1 and rest.startswith(sg + " "):
                rest = pl + rest[len(sg):]
                break
            if sg != pl and new == 1 and rest.startswith(pl + " "):
                rest = sg + rest[len(pl):]
                break
        return " ".join(ws[:i] + [C.NUMBER_WORDS[new]] + rest.split()) + "."

    def swap_region(c, _):
        for ph in sorted(regions, key=len, reverse=True):
            if ph in c:
                others = [p for p in regions if p != ph]
                return c.replace(ph, others[int(rng.integers(len(others)))], 1)
        return None

    def swap_class(c, meta):
        label, bg = meta
        pool = [x for x in (S.SEA_CLASSES if bg == "sea" else S.LAND_CLASSES) if x != label]
        new = pool[int(rng.integers(len(pool)))]
        (sg, pl), (nsg, npl) = C.NOUNS[label], C.NOUNS[new]
        out = re.sub(r"\b" + re.escape(pl) + r"\b", npl, c, count=1)
        if out == c:
            out = re.sub(r"\b" + re.escape(sg) + r"\b", nsg, c, count=1)
        return out if out != c else None

    for name, fn in (("count", swap_count), ("region", swap_region), ("class", swap_class)):
        pairs = [(i, a) for i, c in enumerate(full) if (a := fn(c, test_meta[i])) and a != c]
        ta = text([a for _, a in pairs])
        acc = np.mean([img[i] @ tf[i] > img[i] @ ta[k] for k, (i, _) in enumerate(pairs)])
        print(f"probe {name}: true caption preferred over the one-fact-changed one in {acc:.3f} of {len(pairs)} "
              f"(chance 0.5), e.g. {full[pairs[0][0]]!r} vs {pairs[0][1]!r}", flush=True)


if __name__ == "__main__":
    main()
