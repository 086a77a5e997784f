"""Tokenizers: CLIP BPE parity with open_clip, sentencepiece training, the factory and the CLI."""

import pickle
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sentencepiece as spm

from sarclip_jax.cli import main as cli_main
from sarclip_jax.convert.reference import open_clip
from sarclip_jax.text import clip_bpe
from sarclip_jax.text.clip_bpe import ClipTokenizer
from sarclip_jax.text.corpus import corpus, sar_caption
from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece
from sarclip_jax.text.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def oc():
    return open_clip()


@pytest.fixture(scope="module")
def clip_tok():
    return ClipTokenizer()


@pytest.fixture(scope="module")
def texts():
    out = corpus()
    assert len(out) >= 2000 and len(set(out)) >= 1900
    return out


def test_clip_ids_equal_open_clip_tokenize(oc, clip_tok, texts):
    ours, ref = clip_tok(texts), oc.tokenize(texts).numpy()
    assert ours.dtype == np.int32 and ours.shape == ref.shape == (len(texts), 77)
    bad = [texts[i] for i in np.flatnonzero((ours != ref).any(axis=1))]
    assert not bad, f"{len(bad)} strings differ from open_clip, e.g. {bad[:3]!r}"
    # The corpus really exercises truncation and non-ASCII text.
    assert (ours[:, -1] == clip_tok.eot_token_id).sum() > 150
    assert sum(any(ord(c) > 127 for c in t) for t in texts) > 500


def test_clip_untruncated_ids_and_short_context_equal_open_clip(oc, texts):
    from open_clip.tokenizer import SimpleTokenizer

    ref = SimpleTokenizer()
    tok = ClipTokenizer(context_length=16)
    for text in texts[::5]:
        assert tok.encode(text) == ref.encode(text), text
    assert np.array_equal(tok(texts), oc.tokenize(texts, context_length=16).numpy())


def test_clip_special_ids_and_interface(clip_tok):
    assert (clip_tok.vocab_size, clip_tok.context_length) == (49408, 77)
    assert (clip_tok.sot_token_id, clip_tok.eot_token_id, clip_tok.pad_id) == (49406, 49407, 0)
    assert clip_tok("a photo of a cat").tolist()[0][:8] == [49406, 320, 1125, 539, 320, 2368, 49407, 0]
    assert clip_tok([]).shape == (0, 77)
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        clip_tok(["ok", 3])
    with pytest.raises(ValueError, match="context_length"):
        ClipTokenizer(context_length=1)


def test_tokenizers_pickle(clip_tok, sp_model):
    # Grain's worker processes receive the tokenizer by pickle.
    for tok in (ClipTokenizer(context_length=20), SentencePieceTokenizer(sp_model, context_length=20)):
        tok("two ships")  # a warm cache must not get in the way
        copy = pickle.loads(pickle.dumps(tok))
        assert type(copy) is type(tok) and copy.context_length == 20
        assert np.array_equal(copy(["two ships", "an oil tank"]), tok(["two ships", "an oil tank"]))


def test_truncation_keeps_end_token(clip_tok):
    long = " ".join(["ship"] * 200)
    row = clip_tok(long)[0]
    assert row[0] == clip_tok.sot_token_id and row[-1] == clip_tok.eot_token_id
    assert (row[1:-1] == clip_tok.encode("ship")[0]).all()
    short = clip_tok("two ships")[0]
    end = int(np.argmax(short))  # the end id is the largest id: argmax pooling finds it
    assert short[end] == clip_tok.eot_token_id and not short[end + 1:].any()


def test_clip_decode_matches_open_clip_and_round_trips(clip_tok, texts):
    from open_clip.tokenizer import SimpleTokenizer

    ref = SimpleTokenizer()
    for text in texts[::4]:
        assert clip_tok.decode(clip_tok.encode(text)) == ref.decode(ref.encode(text)).strip(), text
    rng = random.Random(1)
    for _ in range(200):
        caption = sar_caption(rng)
        ids = clip_tok(caption)
        decoded = clip_tok.decode(ids[0])  # start, end and padding are dropped
        assert np.array_equal(clip_tok(decoded), ids), (caption, decoded)
    assert clip_tok.decode(clip_tok("Two SHIPS near the harbor")[0]) == "two ships near the harbor"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        clip_tok.decode([5, 49408])


def test_vocabulary_lookup_without_import_and_missing_vocabulary(monkeypatch, tmp_path):
    found = clip_bpe.find_default_vocab()
    assert found is not None and found.name == "bpe_simple_vocab_16e6.txt.gz"
    # The package metadata alone also finds it (e.g. when find_spec cannot).
    monkeypatch.setattr(clip_bpe.importlib.util, "find_spec", lambda name: None)
    assert clip_bpe.find_default_vocab() == found

    def no_package(name):
        raise clip_bpe.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(clip_bpe.importlib.metadata, "files", no_package)
    assert clip_bpe.find_default_vocab() is None
    with pytest.raises(FileNotFoundError, match="pip install open_clip_torch.*vocab_path="):
        ClipTokenizer()
    with pytest.raises(FileNotFoundError, match=r"nowhere/bpe\.txt\.gz does not exist.*pip install"):
        ClipTokenizer(tmp_path / "nowhere" / "bpe.txt.gz")
    garbage = tmp_path / "bad.txt.gz"
    garbage.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.txt.gz is not a gzipped CLIP BPE merges file"):
        ClipTokenizer(garbage)


def test_importing_tokenizers_does_not_import_torch():
    code = textwrap.dedent("""
        import sys
        import sarclip_jax.text.clip_bpe, sarclip_jax.text.sentencepiece_tokenizer
        import sarclip_jax.text.tokenizer, sarclip_jax.cli.tokenizer
        from sarclip_jax.text.tokenizer import build_tokenizer
        assert build_tokenizer("clip")("two ships")[0, 0] == 49406
        heavy = sorted(m for m in ("torch", "open_clip", "tensorflow", "torchvision") if m in sys.modules)
        print(",".join(heavy))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing the tokenizers imported {proc.stdout.strip()}"


# --- sentencepiece ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def caption_files(tmp_path_factory):
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("captions")
    captions = [sar_caption(rng) for _ in range(3000)]
    (root / "captions.txt").write_text("\n".join(captions[:2000]) + "\n\n", encoding="utf-8")
    rows = [f"img/{i}.png\t{c}" for i, c in enumerate(captions[2000:])]
    (root / "train.csv").write_text("imgpath\tcaption\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (root / "comma.csv").write_text('imgpath,caption\na.png,"two ships, one bridge"\n', encoding="utf-8")
    return root, captions


@pytest.fixture(scope="module")
def sp_model(caption_files):
    root, _ = caption_files
    return train_sentencepiece([root / "captions.txt", root / "train.csv", root / "comma.csv"],
                               vocab_size=200, out_prefix=root / "model" / "sar200")


def test_sentencepiece_ids_put_end_of_text_last(sp_model, caption_files):
    _, captions = caption_files
    assert sp_model.exists() and sp_model.with_suffix(".vocab").exists()
    tok = SentencePieceTokenizer(sp_model, context_length=32)
    assert (tok.vocab_size, tok.pad_id, tok.sot_token_id, tok.eot_token_id) == (200, 0, 198, 199)
    ids = tok(captions[:500])
    assert ids.dtype == np.int32 and ids.shape == (500, 32)
    assert ids.max() == tok.eot_token_id and (ids[:, 0] == tok.sot_token_id).all()
    # Argmax pooling lands on the (single) end token of every row.
    ends = np.argmax(ids, axis=1)
    assert (ids[np.arange(500), ends] == tok.eot_token_id).all()
    assert ((ids == tok.eot_token_id).sum(axis=1) == 1).all()
    # Plain sentencepiece sees the same layout in the file.
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 198, 199)


def test_sentencepiece_encode_decode_truncate(sp_model, caption_files):
    _, captions = caption_files
    tok = SentencePieceTokenizer(sp_model)
    for caption in captions[:300]:
        assert tok.decode(tok(caption)[0]) == " ".join(caption.split()).lower()
        assert tok.decode(tok.encode(caption)) == tok.decode(tok(caption)[0])
    assert tok.encode("TWO Ships &amp; a\tbridge") == tok.encode("two ships & a bridge")
    row = SentencePieceTokenizer(sp_model, context_length=8)(" ".join(captions[:20]))[0]
    assert row[0] == 198 and row[-1] == 199 and 0 not in row
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([3, 200])


def test_both_tokenizers_share_the_interface(sp_model, clip_tok):
    sp_tok = build_tokenizer(str(sp_model), context_length=77)
    for tok in (clip_tok, sp_tok):
        for name in ("vocab_size", "context_length", "sot_token_id", "eot_token_id", "pad_id"):
            assert isinstance(getattr(tok, name), int), name
        out = tok(["two ships", "an oil tank"])
        assert out.shape == (2, 77) and out.dtype == np.int32
        assert tok("two ships").shape == (1, 77)
        assert isinstance(tok.encode("two ships"), list) and tok.decode(out[0]) == "two ships"
        assert tok.eot_token_id == tok.vocab_size - 1 and tok.pad_id == 0


def test_sentencepiece_case_kept_without_lower(caption_files, tmp_path):
    root, _ = caption_files
    model = train_sentencepiece([root / "captions.txt"], vocab_size=120, out_prefix=tmp_path / "cased", lower=False)
    tok = SentencePieceTokenizer(model)
    assert tok.encode("Ship") != tok.encode("ship")
    assert tok.decode(tok("Two ships")[0]) == "Two ships"


def test_sentencepiece_errors(caption_files, tmp_path):
    root, _ = caption_files
    with pytest.raises(ValueError, match="try a smaller vocab_size"):
        train_sentencepiece([root / "comma.csv"], vocab_size=5000, out_prefix=tmp_path / "big")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("imgpath,text\na.png,ship\n")
    with pytest.raises(ValueError, match=r"bad\.csv: no 'caption' column.*'imgpath', 'text'"):
        train_sentencepiece([bad_csv], vocab_size=50, out_prefix=tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        train_sentencepiece([tmp_path / "missing.txt"], vocab_size=50, out_prefix=tmp_path / "x")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match="no captions"):
        train_sentencepiece([empty], vocab_size=50, out_prefix=tmp_path / "x")
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece([empty], vocab_size=50, out_prefix=tmp_path / "x", model_type="wordpiece")
    with pytest.raises(FileNotFoundError, match="nope.model does not exist"):
        SentencePieceTokenizer(tmp_path / "nope.model")
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x00junk")
    with pytest.raises(ValueError, match="junk.model is not a sentencepiece model"):
        SentencePieceTokenizer(junk)


def test_foreign_sentencepiece_model_warns_when_end_is_not_last(caption_files, tmp_path):
    root, captions = caption_files
    spm.SentencePieceTrainer.train(input=str(root / "captions.txt"), model_prefix=str(tmp_path / "t5like"),
                                   vocab_size=100, model_type="bpe", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   minloglevel=1)
    with pytest.warns(UserWarning, match="not the largest id"):
        tok = SentencePieceTokenizer(tmp_path / "t5like.model")
    assert tok.sot_token_id is None
    row = tok(captions[0])[0]
    assert row[0] != 1 and row[len(tok.encode(captions[0]))] == 1  # no start token, end written


# --- factory and CLI -------------------------------------------------------------------------

def test_build_tokenizer_specs(sp_model, clip_tok, tmp_path):
    assert isinstance(build_tokenizer("clip"), ClipTokenizer)
    by_path = build_tokenizer(str(clip_bpe.find_default_vocab()), context_length=20)
    assert by_path.context_length == 20 and by_path.encode("two ships") == clip_tok.encode("two ships")
    assert isinstance(build_tokenizer(str(sp_model)), SentencePieceTokenizer)
    with pytest.raises(ValueError, match=r"unknown tokenizer 'bert-base'.*'clip'.*\.gz.*\.model"):
        build_tokenizer("bert-base")
    with pytest.raises(FileNotFoundError, match="missing.model"):
        build_tokenizer(str(tmp_path / "missing.model"))


def test_cli_train_and_encode(caption_files, tmp_path, capsys, clip_tok):
    root, _ = caption_files
    prefix = tmp_path / "cli" / "tok"
    assert cli_main(["tokenizer", "train", "--input", str(root / "captions.txt"), "--input",
                     str(root / "train.csv"), "--vocab-size", "150", "--out", str(prefix)]) == 0
    assert "150 ids: pad 0, start 148, end 149" in capsys.readouterr().out
    assert (tmp_path / "cli" / "tok.model").exists() and (tmp_path / "cli" / "tok.vocab").exists()

    assert cli_main(["tokenizer", "encode", "--tokenizer", "clip", "two ships", "an oil tank"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [" ".join(map(str, [49406, *clip_tok.encode(t), 49407])) for t in ("two ships", "an oil tank")]

    assert cli_main(["tokenizer", "encode", "--tokenizer", str(prefix) + ".model", "--context-length", "8",
                     "--pad", "two ships"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert len(ids) == 8 and ids[0] == 148 and 149 in ids and ids[-1] == 0

    with pytest.raises(SystemExit, match="sarclip tokenizer encode: unknown tokenizer 'nope'"):
        cli_main(["tokenizer", "encode", "--tokenizer", "nope", "x"])
    with pytest.raises(SystemExit, match="sarclip tokenizer train: caption file .*absent.txt does not exist"):
        cli_main(["tokenizer", "train", "--input", str(tmp_path / "absent.txt"), "--vocab-size", "50",
                  "--out", str(tmp_path / "o")])
