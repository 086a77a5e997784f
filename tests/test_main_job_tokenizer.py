"""The main job's model (a text tower of 256 sentencepiece ids) read back the way a new user
reads it: evaluators built without a tokenizer use the model directory's own, and CLIP's BPE
forced on it is a clear error instead of NaN scores."""

import numpy as np
import pytest

from sarclip_jax import model_dir
from sarclip_jax.evaluation import build_evaluator


@pytest.mark.slow
def test_evaluators_on_the_main_jobs_model_use_its_own_tokenizer(smoke_run):
    model = model_dir.load_model(smoke_run)  # the work directory, as the notebook passes it
    assert model.config.text.vocab_size == 256
    assert model.tokenizer_spec == str(smoke_run / "model" / "tokenizer.model")
    data = dict(dataset="sarclip1m/synthetic_smoke", data_dir=str(smoke_run.parent / "tfds"), max_items=32,
                batch_size=16)
    entries = {"zero_shot": dict(classes="synthetic", **data), "retrieval": dict(protocol="multi_caption", **data)}
    for kind, entry in entries.items():
        own = dict(build_evaluator(kind, entry).run(model))  # no tokenizer anywhere: the model's own
        assert own and all(np.isfinite(v) for v in own.values()), own
        assert own == dict(build_evaluator(kind, {**entry, "tokenizer": model.tokenizer_spec}).run(model))
        with pytest.raises(ValueError, match=rf"tokenizer 'clip' has 49408 ids but model {smoke_run / 'model'}'s "
                                             r"text tower embeds only 256"):
            build_evaluator(kind, {**entry, "tokenizer": "clip"}).run(model)
