"""`sarclip tokenizer`: train a sentencepiece tokenizer on captions, or look at token ids.

    sarclip tokenizer train --input train.csv --input extra.txt --vocab-size 8000 --out tok/sar8k
    sarclip tokenizer encode --tokenizer clip "two ships in the upper left"
    sarclip tokenizer encode --tokenizer tok/sar8k.model "two ships" "an oil tank"

`train` reads text files (one caption per line) and OpenCLIP CSV/TSV files (`caption`
column) and writes PREFIX.model and PREFIX.vocab. `encode` prints one line of ids per text:
start token, ids, end token (padding is left out unless --pad).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("tokenizer", help="train or inspect tokenizers", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    t = actions.add_parser("train", help="train a sentencepiece tokenizer on caption files")
    t.add_argument("--input", action="append", required=True, metavar="FILE",
                   help="caption file: .txt (one per line) or OpenCLIP .csv/.tsv; repeat for several")
    t.add_argument("--vocab-size", type=int, required=True, help="number of ids, special ones included")
    t.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.model and PREFIX.vocab")
    t.add_argument("--model-type", default="bpe", choices=("bpe", "unigram"))
    t.add_argument("--no-lower", dest="lower", action="store_false", help="keep case (default: case-fold)")
    t.add_argument("--character-coverage", type=float, default=0.9995)
    t.add_argument("--caption-column", default="caption", help="column of CSV/TSV inputs")
    t.add_argument("--verbose", action="store_true", help="show sentencepiece's training log")
    t.set_defaults(func=run_train)

    e = actions.add_parser("encode", help="print the token ids of texts")
    e.add_argument("--tokenizer", default="clip",
                   help="'clip', a CLIP BPE vocabulary .gz, or a sentencepiece .model (default: clip)")
    e.add_argument("--context-length", type=int, default=77)
    e.add_argument("--pad", action="store_true", help="print all context-length ids, padding included")
    e.add_argument("texts", nargs="+", metavar="TEXT")
    e.set_defaults(func=run_encode)


def run_train(args: argparse.Namespace) -> int:
    from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

    try:
        model_file = train_sentencepiece(
            args.input, args.vocab_size, args.out, model_type=args.model_type, lower=args.lower,
            character_coverage=args.character_coverage, caption_column=args.caption_column,
            verbose=args.verbose)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"sarclip tokenizer train: {e}") from None
    tok = SentencePieceTokenizer(model_file)
    print(f"wrote {model_file} ({tok.vocab_size} ids: pad {tok.pad_id}, start {tok.sot_token_id}, "
          f"end {tok.eot_token_id})")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from sarclip_jax.text.tokenizer import build_tokenizer

    try:
        tok = build_tokenizer(args.tokenizer, context_length=args.context_length)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"sarclip tokenizer encode: {e}") from None
    for row in tok(args.texts):
        ids = row.tolist()
        if not args.pad:
            ids = ids[:len(ids) - ids[::-1].index(tok.eot_token_id)]  # up to the last end token
        print(" ".join(map(str, ids)))
    return 0
