"""`sarclip convert`: PyTorch weight files <-> this project's model directories.

    sarclip convert --from open_clip_model.safetensors --model ViT-B-32 --to models/b32
    sarclip convert --from models/b32 --to-openclip b32.safetensors
    sarclip convert --from pytorch_model.bin --model ViT-L-14-quickgelu --to models/l14 --to-openclip l14.safetensors
"""

from __future__ import annotations

import argparse

from sarclip_jax.models.config import MODEL_CONFIGS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="convert weights between OpenCLIP/HF PyTorch files and JAX",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", required=True,
                   help="a .safetensors/.pt/.bin file (OpenCLIP, OpenAI or HF CLIPModel keys) or a model directory")
    p.add_argument("--model", help=f"architecture of a PyTorch file: one of {sorted(MODEL_CONFIGS)}")
    p.add_argument("--to", help="write a sarclip_jax model directory here")
    p.add_argument("--to-openclip", help="write an OpenCLIP .safetensors file here")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"), help="dtype of --to-openclip")
    p.add_argument("--param-dtype", default="float32", choices=("float32", "bfloat16"),
                   help="dtype of the parameters in --to")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sarclip_jax import convert, model_dir
    from sarclip_jax.convert.layouts import detect_layout

    if not (args.to or args.to_openclip):
        raise SystemExit("sarclip convert: give --to DIR and/or --to-openclip FILE")
    if model_dir.is_model_dir(args.source):
        model = model_dir.load_model(args.source, param_dtype=args.param_dtype)
        print(f"read model directory {args.source} ({_describe(model.config)})")
    else:
        if not args.model:
            raise SystemExit(f"sarclip convert: --model is needed for a weight file; one of {sorted(MODEL_CONFIGS)}")
        if args.model not in MODEL_CONFIGS:
            raise SystemExit(f"sarclip convert: unknown --model {args.model!r}; one of {sorted(MODEL_CONFIGS)}")
        try:
            state_dict = convert.read_state_dict(args.source)
            print(f"read {len(state_dict)} tensors from {args.source} ({detect_layout(state_dict)} layout)")
            model = convert.load_pytorch_weights(args.source, args.model, param_dtype=args.param_dtype)
        except (ValueError, FileNotFoundError, ImportError) as e:
            raise SystemExit(f"sarclip convert: {e}") from None
    if args.to:
        model_dir.save_model(model, args.to, overwrite=args.overwrite)
        print(f"wrote model directory {args.to}")
    if args.to_openclip:
        convert.export_openclip(model, args.to_openclip, dtype=args.dtype)
        print(f"wrote {args.to_openclip} (OpenCLIP keys, {args.dtype})")
    return 0


def _describe(cfg) -> str:
    v, t = cfg.vision, cfg.text
    return (f"ViT {v.layers}x{v.width} patch {v.patch_size} @ {v.image_size}px, "
            f"text {t.layers}x{t.width}, embed {cfg.embed_dim}")
