"""Deterministic, varied strings for tokenizer parity tests and the tokenizer benchmark."""

import random

CLASSES = ["ship", "oil tank", "bridge", "aircraft", "harbor", "T72 tank", "BMP2", "ZSU234",
           "storage tank", "cargo ship", "container ship", "airport runway", "vehicle"]
COUNTS = ["one", "two", "three", "four", "five", "several", "many", "12", "3"]
PLACES = ["in the upper left", "in the lower right", "in the centre", "near the top edge",
          "to the left of a bridge", "to the right of the harbor", "along the coast"]
SCRIPTS = ["合成孔径雷达图像", "船舶", "レーダー画像", "타워", "Радиолокационное", "εικόνα",
           "صورة رادار", "रडार छवि", "ภาพเรดาร์", "ｆｕｌｌｗｉｄｔｈ", "ﬁne ﬂow", "İstanbul", "straße",
           "ǅemal", "café", "naïve", "e\u0301te\u0301", "n\u0303", "a\u0308\u0304", "Ångström"]
EMOJI = ["🚢", "🛰️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤", "✈️", "🌊🌊", "🔥", "©", "™", "∑∫√", "°C", "²"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "—", "–", "“", "”", "‘", "’", "«»",
                                                      "¿", "¡", "·", "•", "…", "‰", "§"]
ENTITIES = ["&amp;", "&#39;", "&quot;", "&lt;b&gt;", "&amp;amp;", "&nbsp;", "&#x27;", "&copy;",
            "&foo;", "&#99999999;", "&amp;#39;", "&gt;&gt;", "&", "&#", "&#x1F6A2;"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u200b", "\x0b", "\x1c", "\u2028"]
MOJIBAKE = ["â€™", "Ã©", "â€œquotedâ€\x9d", "Ã¼ber", "donâ€™t", "Ã\xa0 la"]
SPECIALS = ["<start_of_text>", "<end_of_text>", "<END_OF_TEXT>", "<|endoftext|>", "</w>", "<w>"]
WORDS = ["it's", "I'LL", "they've", "we'd", "you're", "don’t", "ISN'T", "o'clock", "rock'n'roll",
         "SAR", "VV/VH", "Sentinel-1", "TerraSAR-X", "3.5m", "10km²", "-12.5dB", "1e-3", "0x1F",
         "2024-01-31", "12:30", "50%", "$100", "#ship", "@user", "http://example.com/a?b=c", "a.b.c"]


def sar_caption(rng: random.Random) -> str:
    forms = [
        "a SAR image of {c} {k}s {p}.", "{C} {k}s {p}", "There are {c} {k}s {p}, and a {k2}.",
        "radar image showing a {k} {p}", "{c} {k}s; one {k2} {p}!", "A {k} ({c}) {p}?",
    ]
    return rng.choice(forms).format(c=rng.choice(COUNTS), C=rng.choice(COUNTS).capitalize(),
                                    k=rng.choice(CLASSES), k2=rng.choice(CLASSES), p=rng.choice(PLACES))


def corpus(n_random: int = 2000, seed: int = 0) -> list[str]:
    """Deterministic, varied strings: fixed edge cases plus random mixtures of every kind."""
    rng = random.Random(seed)
    pools = [CLASSES, COUNTS, SCRIPTS, EMOJI, PUNCT, ENTITIES, MOJIBAKE, SPECIALS, WORDS]
    fixed = ["", " ", "\n\t ", "a", "A", "1", "12345678901234567890", "!", "!!!???", "\x00", "\x1b[31mred",
             "\x7f", "  leading and trailing  ", "a photo of a cat", *SCRIPTS, *EMOJI, *PUNCT, *ENTITIES,
             *MOJIBAKE, *SPECIALS, *WORDS, *SPACES]
    out = list(fixed)
    for i in range(n_random):
        kind = i % 8
        if kind == 0:
            text = sar_caption(rng)
        elif kind == 1:  # a token soup from every pool, joined by assorted whitespace
            text = "".join(rng.choice(rng.choice(pools)) + rng.choice(SPACES + [""] * 4)
                           for _ in range(rng.randint(1, 12)))
        elif kind == 2:  # numbers in their many spellings
            text = " ".join(rng.choice([str(rng.randint(-10**6, 10**6)), f"{rng.uniform(-1e3, 1e3):.{rng.randint(0, 6)}f}",
                                        f"{rng.random():e}", f"{rng.randint(0, 999):,}", "½", "Ⅻ", "٣", "१२"])
                            for _ in range(rng.randint(1, 6)))
        elif kind == 3:  # caption with entities and odd whitespace spliced in
            words = sar_caption(rng).split(" ")
            text = "".join(w + rng.choice(SPACES + [" "] * 6) + (rng.choice(ENTITIES) if rng.random() < .3 else "")
                           for w in words)
        elif kind == 4:  # random code points (no surrogates), mostly from scripts and symbols
            hi = rng.choice([0x7F, 0x2FF, 0x7FF, 0xFFFF, 0x1FAFF])
            cps = [rng.randint(0x20, hi) for _ in range(rng.randint(1, 20))]
            text = "".join(chr(c) for c in cps if not 0xD800 <= c <= 0xDFFF)
        elif kind == 5:  # long strings that must be truncated
            text = " ".join(sar_caption(rng) for _ in range(rng.randint(8, 30)))
        elif kind == 6:  # case and punctuation glued to words
            text = "".join(rng.choice([w.upper(), w.title(), w]) + rng.choice(PUNCT + [" "] * 3)
                           for w in sar_caption(rng).split())
        else:  # long runs: one giant word, repeated symbols, digits
            text = rng.choice(["x" * rng.randint(50, 400), "🚢" * rng.randint(5, 90), "9" * rng.randint(5, 200),
                               "-=" * rng.randint(5, 120), "supercalifragilistic" * rng.randint(1, 9)])
        out.append(text)
    return out
