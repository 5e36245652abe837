"""The packaged embedder tokenizes a word at a time (memory/embedder.py `_Model.ids`): the ids of the tokenizer's own
`encode` of the whole text, on texts of every shape; and only for a tokenizer whose merges cannot cross a word."""

from __future__ import annotations

import random

from tokenizers import Tokenizer, normalizers
from tokenizers.models import BPE

from llmtrade.memory.embedder import _load_packaged, _Model, _words_apart

TEXTS = [
    "",
    " ",
    "   leading and trailing   ",
    "SPY breaks out above its 20-day high\nrsi_14 < 70\nclose below the 50-day average",
    "momentum breakout above the 50 day average with rising breadth",
    "tabs\tand\nnewlines\r\n and  double  spaces",
    "a <s> special token's text, </s> and <unk> inside",
    "<s>",
    "accents é, combining e\u0301, CJK 漢字, emoji 😀, a no-break\u00a0space",
    "the sentencepiece space ▁ written out, ▁▁ twice, x▁y joined",
]
ALPHABET = [*"abcXYZ \t\n▁-_.,;:<>/0123é漢😀", "\u0301", "\u00a0", "<s>", "</s>", "<unk>", "rsi_14", "  ", "▁the"]


def test_the_packaged_tokenizer_is_worked_out_a_word_at_a_time() -> None:
    model = _load_packaged()
    assert model.words_apart  # else every text is encoded whole: right, but the speed-up is gone
    rng = random.Random(13)
    fuzz = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(60))) for _ in range(3000)]
    for text in [*TEXTS, *fuzz, *TEXTS]:  # the second time from the kept words
        assert model.ids(text) == model.tokenizer.encode(text, add_special_tokens=False).ids, text
    # Its normalizer is done with str methods: the tokenizer's own text, on every non-empty text.
    assert model.spaces
    normalizer = model.tokenizer.normalizer
    for text in [*TEXTS, *fuzz]:
        if text:
            assert "\u2581" + text.replace(" ", "\u2581") == normalizer.normalize_str(text), text


def _crossing() -> Tokenizer:
    """A BPE whose merges join a character to the space after it: "a▁" is one token."""
    vocab = {"<unk>": 0, "a": 1, "▁": 2, "a▁": 3}
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[("a", "▁")], unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    return tokenizer


def test_a_tokenizer_whose_merges_cross_words_is_encoded_whole() -> None:
    tokenizer = _crossing()
    assert not _words_apart(tokenizer)
    whole = tokenizer.encode("a a", add_special_tokens=False).ids
    apart = _Model(tokenizer, _load_packaged().embedding, words_apart=True)
    assert apart.ids("a a") != whole  # what the check guards against
    guarded = _Model(tokenizer, _load_packaged().embedding, words_apart=_words_apart(tokenizer))
    assert guarded.ids("a a") == whole
