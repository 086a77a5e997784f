"""The `sarclip` command: one entry point, one module per sub-command.

Each sub-command module exposes `register(subparsers)` which adds its parser and sets
`func=run` on it. Modules are imported only when needed, so `sarclip --help` stays fast and a
sub-command's heavy imports (JAX, TFDS) cost nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("sarclip_jax.cli.train", "train a SARCLIP model (the main job)"),
    "convert": ("sarclip_jax.cli.convert", "convert weights between OpenCLIP/HF PyTorch files and JAX"),
    "tokenizer": ("sarclip_jax.cli.tokenizer", "train or inspect tokenizers"),
    "data": ("sarclip_jax.cli.data", "build and inspect SAR datasets"),
    "eval": ("sarclip_jax.cli.eval", "evaluate checkpoints: retrieval, zero-shot, linear probe"),
    "plan": ("sarclip_jax.cli.plan", "compile a train step for a TPU slice: memory per chip and speed"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sarclip", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        if name == wanted:
            importlib.import_module(module).register(subparsers)
        else:  # listed in --help without importing the module
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # only sub-commands that take config overrides (`--config.a.b=v`) accept more
        if not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = extra
    if not hasattr(args, "func"):
        raise SystemExit(f"sarclip {args.command}: not available")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
