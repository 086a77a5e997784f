"""MSTAR SOC zero-shot classification (10 targets, the 15-degree test chips), as SARCLIP reports it:
class names are the sorted folder names, the official `sar` templates, top-1/3/5 and mean
per-class accuracy. With `train=` pointing at the 17-degree chips, also a linear probe.

    sarclip eval --config eval/mstar_soc.py:folder=/data/MSTAR_SOC/test --checkpoint sarclip_vit_l_14.safetensors \
        --model ViT-L-14
    sarclip eval --config eval/mstar_soc.py:folder=/data/MSTAR_SOC,probe=True --checkpoint runs/sar_b16

`folder` holds <class>/<image> (or <split>/<class>/<image> with test and train splits). Raw
Phoenix chips, JPEG and PNG exports are all read; the magnitude of raw chips is amplitude.
A checkpoint trained on MSTAR scores it held-in: say so, or train with MSTAR left out.
"""

import ml_collections

from sarclip_jax.config_loading import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, folder="", probe=False, class_names="", batch_size=64)
    if not a.folder:
        raise ValueError("eval/mstar_soc.py needs folder=/path/to/MSTAR_SOC (class folders of test chips)")
    data = dict(folder=a.folder, float_scale="amplitude", batch_size=a.batch_size)
    evals = {"mstar_soc": dict(kind="zero_shot", split="test", templates="sar", class_names=a.class_names, **data)}
    if a.probe:
        evals["mstar_soc_probe"] = dict(kind="linear_probe", split="test", train_split="train", **data)
    return ml_collections.ConfigDict({"evals": evals})
