"""`sarclip data`: build and inspect the SAR datasets (TFDS array_record, no TensorFlow).

    sarclip data build sarclip1m/synthetic --data_dir ~/tensorflow_datasets
    sarclip data build sarclip1m/synthetic --num_train 20000 --image_size 224 --data_dir ...
    sarclip data build sarclip1m/release --manual_dir /data/sarclip1m --data_dir ...
    sarclip data build sarclip1m/sources --manual_dir /data/sar_sources --data_dir ...
    sarclip data build sar_zeroshot/mstar_soc --manual_dir /data/MSTAR_SOC/test --data_dir ...
    sarclip data info sarclip1m/synthetic --data_dir ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from etils import epath

SYNTHETIC_KEYS = ("num_train", "num_validation", "num_test", "image_size", "seed", "float_fraction")


def builder_classes() -> dict:
    from tfds_sarclip.sar_zeroshot import sar_zeroshot_dataset_builder as zeroshot
    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    return {"sarclip1m": sarclip1m.Builder, "sar_zeroshot": zeroshot.Builder}


def make_builder(name: str, data_dir: str, overrides: dict | None = None):
    """The builder for "dataset/config"; synthetic size overrides give a custom, named config."""
    import dataclasses

    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    dataset, _, config = name.partition("/")
    classes = builder_classes()
    if dataset not in classes:
        raise SystemExit(f"unknown dataset {dataset!r}; expected one of {sorted(classes)}")
    cls = classes[dataset]
    configs = {c.name: c for c in cls.BUILDER_CONFIGS}
    config = config or cls.BUILDER_CONFIGS[0].name
    # A new name starting with "synthetic" (e.g. sarclip1m/synthetic_smoke) is a synthetic
    # config of that name, sized by the overrides; sizes given for a predefined name yield a
    # name that encodes them, so differently sized builds never share a directory.
    custom = dataset == "sarclip1m" and config not in configs and config.startswith("synthetic")
    if config not in configs and not custom:
        raise SystemExit(f"unknown config {dataset}/{config}; expected one of {sorted(configs)} "
                         f"or a new name starting with 'synthetic'")
    chosen = configs["synthetic" if custom else config]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    synthetic = {k: v for k, v in overrides.items() if k in SYNTHETIC_KEYS}
    if synthetic or custom:
        if getattr(chosen, "kind", "") != "synthetic":
            raise SystemExit(f"{sorted(synthetic)} only apply to sarclip1m synthetic configs, not {name}")
        base = {k: getattr(chosen, k) for k in SYNTHETIC_KEYS}
        chosen = sarclip1m.synthetic_config(**{**base, **synthetic})
        if custom:
            chosen = dataclasses.replace(chosen, name=config)
    if overrides.get("float_scale"):
        chosen = dataclasses.replace(chosen, float_scale=overrides["float_scale"])
    return cls(config=chosen, data_dir=os.path.expanduser(data_dir))


def build(args) -> int:
    import tensorflow_datasets as tfds

    from tfds_sarclip import report as report_lib

    overrides = {k: getattr(args, k, None) for k in (*SYNTHETIC_KEYS, "float_scale")}
    builder = make_builder(args.name, args.data_dir, overrides)
    download_config = tfds.download.DownloadConfig(
        manual_dir=args.manual_dir,
        download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS if args.overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS)
    try:
        builder.download_and_prepare(file_format="array_record", download_config=download_config)
    except report_lib.AllRecordsBadError as e:
        print(f"sarclip data build: {e}", file=sys.stderr)
        return 2
    out = epath.Path(builder.data_dir)
    print(f"{builder.info.full_name} in {out}")
    for split, info in sorted(builder.info.splits.items()):
        print(f"  {split}: {info.num_examples} examples")
    report_path = out / report_lib.REPORT_NAME
    if report_path.exists():
        report = json.loads(report_path.read_text())
        print(f"  kept {report['kept_total']}, skipped {report['skipped_total']} (report: {report_path})")
        for source, entry in report["sources"].items():
            if entry["skipped_total"]:
                print(f"    {source}: skipped {entry['skipped']}")
        for message in report["messages"]:
            print(f"    {message}")
    return 0


def info(args) -> int:
    import tensorflow_datasets as tfds

    builder = make_builder(args.name, args.data_dir, {k: getattr(args, k, None) for k in SYNTHETIC_KEYS})
    if not builder.is_prepared():
        print(f"{args.name} is not built in {args.data_dir}; run `sarclip data build {args.name}` first")
        return 1
    from tfds_sarclip import report as report_lib

    print(f"{builder.info.full_name} in {builder.data_dir}")
    report_path = epath.Path(builder.data_dir) / report_lib.REPORT_NAME
    built = json.loads(report_path.read_text()) if report_path.exists() else {}
    stored, stored_labels = built.get("captions", {}), built.get("labels")
    for split in sorted(builder.info.splits):
        source = tfds.data_source(builder.info.full_name.rsplit("/", 1)[0], split=split,
                                  data_dir=os.path.expanduser(args.data_dir))
        print(f"  {split}: {len(source)} examples")
        stats = stored.get(split) or _caption_stats(source)
        # Reports written before they held label statistics: count them from the records.
        ambiguity = stored_labels.get(split) if stored_labels is not None else _label_ambiguity(source)
        if ambiguity and ambiguity["records"]:
            by_class = sorted(ambiguity["ambiguous_by_class"].items(), key=lambda kv: (-kv[1], kv[0]))
            classes = ", ".join(f"{c} {n}" for c, n in by_class)
            print(f"    labels: {ambiguity['ambiguous']} of {ambiguity['records']} records "
                  f"({100 * ambiguity['ambiguous_rate']:.1f}%) hold another class with as many objects as their "
                  f"label, or more{f' ({classes})' if classes else ''}; a classifier that reads every object right "
                  f"scores {100 * ambiguity['ceiling']:.1f}% top-1")
        if stats and stats["captions"]:
            fn = stats["false_negatives_per_batch"]
            print(f"    captions: {stats['captions']} ({stats['distinct_captions']} distinct texts); "
                  f"{100 * stats['duplicate_rate']:.1f}% also describe another image; expected false negatives "
                  f"per batch (same caption text, counted as negatives): {fn['64']:.1f} at 64, {fn['1024']:.0f} at 1024")
        if args.show and len(source):
            record = source[0]
            shown = {k: (f"<{len(v)} bytes>" if k == "image" else v) for k, v in record.items()}
            print(f"    first record: {shown}")
    return 0


def _caption_stats(source) -> dict | None:
    """The repeated-caption statistics of a split built before the report held them."""
    from sarclip_jax.data import records
    from tfds_sarclip.caption_stats import CaptionStats

    if "captions" not in source.dataset_info.features:
        return None
    stats = CaptionStats()
    for i in range(len(source)):
        stats.add(records.captions_of(source[i]))
    return stats.summary()


def _label_ambiguity(source) -> dict | None:
    """How often the split's class label ties with another annotated class (sarclip_jax.data.label_ambiguity)."""
    from sarclip_jax.data import records
    from sarclip_jax.data.label_ambiguity import label_ambiguity

    if "objects" not in source.dataset_info.features:
        return None
    return label_ambiguity((records.text_of(r["label"]), records.object_labels_of(r))
                           for r in (source[i] for i in range(len(source))))


def overlap(args) -> int:
    import ml_collections
    from tqdm import tqdm

    from sarclip_jax.data import tfds_source
    from sarclip_jax.data.overlap import NEAR_DISTANCE
    from sarclip_jax.evaluation import overlap as overlap_lib
    from sarclip_jax.evaluation import sources

    threshold = NEAR_DISTANCE if args.threshold is None else args.threshold
    train = tfds_source.open_source(args.train, args.train_split, os.path.expanduser(args.data_dir))
    where = epath.Path(args.eval)
    if where.is_dir():
        cfg, want = dict(folder=args.eval, split=args.eval_split), "label"
    elif where.suffix.lower() in (".csv", ".tsv"):
        cfg, want = dict(csv=args.eval), "captions"
    else:
        cfg = dict(dataset=args.eval, split=args.eval_split, data_dir=os.path.expanduser(args.eval_data_dir or args.data_dir))
        want = "captions"
    cfg = ml_collections.ConfigDict(cfg)
    try:
        eval_set = sources.open_set(cfg, want)
    except ValueError:
        if want != "captions" or "dataset" not in cfg:
            raise
        eval_set = sources.open_set(cfg, "label")  # a labelled TFDS set without captions
    with tqdm(total=len(train) + len(eval_set.items), desc="hashing images", unit="img") as bar:
        found = overlap_lib.find_overlap(train, eval_set, train_name=args.train, train_split=args.train_split,
                                         threshold=threshold, regions=not args.no_regions, progress=bar.update)
    written = found.write(args.out, train, eval_set)
    c = found.counts()
    print(f"{c['eval_images_overlapping']} of {c['eval_images']} evaluation images have a copy in {args.train} "
          f"({args.train_split}): {c['exact_pairs']} exact, {c['near_pairs']} near (distance <= {threshold}), "
          f"{c['region_pairs']} sharing a region; "
          f"{c['train_images_to_exclude']} training records to leave out")
    print(f"report: {written['markdown']}; leave them out with data.exclude={written['json']}")
    return 0


def _synthetic_options(parser) -> None:
    for key, kind in (("num_train", int), ("num_validation", int), ("num_test", int), ("image_size", int),
                      ("seed", int), ("float_fraction", float)):
        parser.add_argument(f"--{key}", type=kind, default=None, help="synthetic configs only")


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="build and inspect SAR datasets",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    b = sub.add_parser("build", help="build a dataset as array_record")
    b.add_argument("name", help="DATASET/CONFIG, e.g. sarclip1m/synthetic, sarclip1m/release, sar_zeroshot/folder")
    b.add_argument("--data_dir", required=True, help="TFDS data directory (local path or gs://)")
    b.add_argument("--manual_dir", default=None, help="folder holding the downloaded source files")
    b.add_argument("--overwrite", action="store_true", help="rebuild even if the dataset exists")
    _synthetic_options(b)
    b.add_argument("--float_scale", default=None, help="scale of float images (release, sar_zeroshot)")
    b.set_defaults(func=build)

    i = sub.add_parser("info", help="splits and sizes of a built dataset")
    i.add_argument("name")
    i.add_argument("--data_dir", required=True)
    i.add_argument("--show", action="store_true", help="print each split's first record")
    _synthetic_options(i)
    i.set_defaults(func=info)

    o = sub.add_parser("overlap", help="images of an evaluation set that are also in a training split")
    o.add_argument("--train", required=True, help="the training dataset, DATASET/CONFIG")
    o.add_argument("--data_dir", required=True, help="TFDS data directory of the training dataset")
    o.add_argument("--train_split", default="train")
    o.add_argument("--eval", required=True, help="an evaluation DATASET/CONFIG, an ImageFolder folder or a caption CSV")
    o.add_argument("--eval_split", default="test", help="split of an evaluation dataset or folder")
    o.add_argument("--eval_data_dir", default=None, help="TFDS data directory of the evaluation dataset (default --data_dir)")
    o.add_argument("--threshold", type=int, default=None,
                   help="near copies: largest Hamming distance of 256 bits (default sarclip_jax.data.overlap.NEAR_DISTANCE)")
    o.add_argument("--no_regions", action="store_true",
                   help="skip the search for shared regions (crops off the centre, overlapping tiles)")
    o.add_argument("--out", default="overlap", help="folder for overlap.json, overlap.md and overlap.png")
    o.set_defaults(func=overlap)
