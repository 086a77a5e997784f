"""A template for any ImageFolder test set (FUSAR-Ship, SAR-VSA, OpenSARShip chips, your own):
zero-shot classification with a chosen template set and, when the tree has a train split, a
few-shot linear probe.

    sarclip eval --config eval/imagefolder.py:folder=/data/FUSAR_Ship,class_names=fusar_ship --checkpoint runs/b16
    sarclip eval --config eval/imagefolder.py:folder=/data/NWPU-RESISC45,templates=optical --checkpoint clip.safetensors \
        --model ViT-B-32

Class names are the sorted sub-folder names put into the templates as they are; `class_names`
names a readable set from sarclip_jax/text/prompts.py instead. Float TIFFs are read as
`float_scale` (intensity | amplitude | db).
"""

import ml_collections

from sarclip_jax.config_loading import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, folder="", name="", templates="sar", class_names="", float_scale="amplitude", probe=False,
                  batch_size=64)
    if not a.folder:
        raise ValueError("eval/imagefolder.py needs folder=/path/to/root (<class>/<image> or <split>/<class>/<image>)")
    name = a.name or a.folder.rstrip("/").rsplit("/", 1)[-1].lower()
    data = dict(folder=a.folder, float_scale=a.float_scale, batch_size=a.batch_size)
    evals = {name: dict(kind="zero_shot", split="test", templates=a.templates, class_names=a.class_names, **data)}
    if a.probe:
        evals[f"{name}_probe"] = dict(kind="linear_probe", split="test", train_split="train", **data)
    return ml_collections.ConfigDict({"evals": evals})
