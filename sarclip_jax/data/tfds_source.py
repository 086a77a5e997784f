"""Random-access TFDS sources, opened from the prepared files alone.

`tfds.data_source` reads a prepared dataset's array_record files and its dataset_info.json; it
needs no builder code, so readers (the Grain pipelines, the evaluators) never import the
builders in `tfds_sarclip`, and no TensorFlow is needed.

    source = open_source("sarclip1m/synthetic", "train", "~/tensorflow_datasets")
    record = source[0]      # dict of numpy values / bytes (see sarclip_jax.data.records)
"""

from __future__ import annotations

import os


def open_source(name: str, split: str, data_dir: str | None = None):
    """The array_record source of `name` ("dataset/config") and `split`; an error that says how to
    build it when it is not there."""
    import tensorflow_datasets as tfds

    data_dir = os.path.expanduser(str(data_dir)) if data_dir else None
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, FileNotFoundError, AssertionError) as e:
        raise FileNotFoundError(
            f"dataset {name} (split {split!r}) is not prepared in {data_dir or 'the default TFDS data_dir'}: "
            f"build it with `sarclip data build {name} --data_dir {data_dir or '~/tensorflow_datasets'}`") from e
