"""The embedded default's held-out test split: zero-shot over the 6 synthetic classes and
retrieval with several captions per image, scored as distinct captions (multi_caption) and with
captions of one text as one (any_match: the synthetic captions repeat across images). The
evaluations the main job runs.

    sarclip eval --config eval/synthetic_test.py --checkpoint runs/default
    sarclip eval --config eval/synthetic_test.py:dataset=sarclip1m/synthetic_smoke --checkpoint runs/smoke
    sarclip eval --config eval/synthetic_test.py:probe=True --checkpoint runs/default   # + a linear probe

probe=True adds a linear probe (fitted on the training split's image embeddings): how well the
image tower separates the classes, whatever the text tower makes of their names.

zero_shot_counted asks the same question in the captions' own grammar. A scene's label is its most
numerous class, and the captions name that class in the plural with its count ("there are three
vehicles and one building ..."), a second class in the singular. So the prompts put the plural
name (the generator's own nouns) into the generator's counting sentence for two to five; the
form was chosen on the validation split (docs/evaluation.md).
"""

import ml_collections

from sarclip_jax.config_loading import parse_arg
from sarclip_jax.text.prompts import SYNTHETIC_CLASSES
from tfds_sarclip import captions

PLURAL_NAMES = {c: captions.noun(c, 2) for c in SYNTHETIC_CLASSES}
COUNT_TEMPLATES = [f"there are {n} {{}} in this SAR image." for n in captions.NUMBER_WORDS[2:6]]


def get_config(arg=None):
    a = parse_arg(arg, dataset="sarclip1m/synthetic_default", data_dir="data/tensorflow_datasets", batch_size=128,
                  probe=False)
    data = dict(dataset=a.dataset, split="test", data_dir=a.data_dir, batch_size=a.batch_size)
    evals = {
        "zero_shot": dict(kind="zero_shot", templates="sar", classes="synthetic", **data),
        "zero_shot_counted": dict(kind="zero_shot", templates=COUNT_TEMPLATES, classes="synthetic",
                                  class_names=PLURAL_NAMES, **data),
        "retrieval": dict(kind="retrieval", protocol="multi_caption", subset_size=0, **data),
        "retrieval_any_match": dict(kind="retrieval", protocol="any_match", subset_size=0, **data),
    }
    if a.probe:
        evals["linear_probe"] = dict(kind="linear_probe", train_split="train", classes="synthetic", **data)
    return ml_collections.ConfigDict({"evals": evals})
