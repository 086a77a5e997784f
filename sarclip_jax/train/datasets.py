"""Making sure the datasets a run needs exist before it starts (the synthetic default is built)."""

from __future__ import annotations

import logging

import jax

log = logging.getLogger(__name__)


def ensure_built(cfg) -> None:
    """Builds cfg.data.dataset from cfg.dataset_build when it is missing and building is enabled."""
    from sarclip_jax.data import data_cli

    build = cfg.get("dataset_build", {})
    name, data_dir = cfg.data.dataset, cfg.data.data_dir
    overrides = {k: v for k, v in build.items() if k != "enabled"} if build else {}
    builder = data_cli.make_builder(name, data_dir, overrides)
    if builder.is_prepared():
        return
    if not build or not build.get("enabled", False):
        raise FileNotFoundError(f"dataset {name} is not built in {data_dir}; run `sarclip data build {name} "
                                f"--data_dir {data_dir}` (with --manual_dir for real data) first")
    if jax.process_count() > 1:
        raise FileNotFoundError(f"dataset {name} is missing in {data_dir}; build it once before a multi-process run")
    log.info("building %s in %s", name, data_dir)
    builder.download_and_prepare(file_format="array_record")
