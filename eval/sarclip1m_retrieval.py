"""SARCLIP-1M retrieval as the official script scores it: the released `retrieval_file_list.csv`,
row i's image paired with row i's caption only, a fixed-seed 5,000-pair subset, I2T/T2I R@1/5/10
and mean recall.

    sarclip eval --config eval/sarclip1m_retrieval.py:csv=/data/SARCLIP/data/retrieval_file_list.csv \
        --checkpoint sarclip_vit_b_32.safetensors --model ViT-B-32

Paths in the CSV resolve against its folder, then `image_root`; nothing outside them is read.
"""

import ml_collections

from sarclip_jax.config_loading import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, csv="", image_root="", subset_size=5000, float_scale="amplitude", batch_size=64)
    if not a.csv:
        raise ValueError("eval/sarclip1m_retrieval.py needs csv=/path/to/retrieval_file_list.csv")
    return ml_collections.ConfigDict({"evals": {"sarclip1m_retrieval": dict(
        kind="retrieval", csv=a.csv, image_root=a.image_root, protocol="one_to_one", subset_size=a.subset_size,
        subset_seed=0, float_scale=a.float_scale, batch_size=a.batch_size)}})
