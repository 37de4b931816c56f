"""Linguistic scorers rank the unusual texts of a stream higher, on real texts only.

The stream is AG News. Other scripts come from real translations (GNU coreutils messages in
Russian and Japanese, installed by Debian under /usr/share/locale); mixed-script and overlong
texts are real concatenations of those texts.
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.score.linguistic import (
    CountMinSketch,
    LengthExtremity,
    RareTermRate,
    ScriptMixing,
    make_text_scorers,
    score_texts,
    words,
)
from tests.data import rows
from tests.drift.realdata import translations

NEWS = [t for t, _ in rows("ag_news", 2500)]
STREAM, HELD_OUT = NEWS[:2000], NEWS[2000:]


@pytest.fixture(scope="module")
def russian():
    found = translations("ru")
    if len(found) < 50:
        pytest.skip("needs Debian's Russian coreutils translations in /usr/share/locale")
    return list(found)


@pytest.fixture(scope="module")
def japanese():
    found = translations("ja")
    if len(found) < 50:
        pytest.skip("needs Debian's Japanese coreutils translations in /usr/share/locale")
    return list(found)


def trained(scorer):
    for start in range(0, len(STREAM), 100):
        scorer.learn_many(STREAM[start : start + 100])
    return scorer


def test_news_scores_no_script_mixing_and_news_with_a_translation_appended_does(russian):
    scorer = ScriptMixing()
    news = scorer.score_many(HELD_OUT[:200])
    mixed = scorer.score_many([f"{n} {r}" for n, r in zip(HELD_OUT[:200], russian, strict=False)])
    assert (news == 0).mean() > 0.95
    assert (mixed > news).all()
    assert np.median(mixed) > 0.5


def test_japanese_kana_and_kanji_are_one_script_family(japanese):
    pure = [j for j in japanese if not any("a" <= c.lower() <= "z" for c in j)][:50]
    assert len(pure) >= 10
    scores = ScriptMixing().score_many(pure)
    assert np.median(scores) == 0  # kanji, hiragana and katakana are written together
    mixed = ScriptMixing().score_many([f"{j} {n}" for j, n in zip(pure, HELD_OUT, strict=False)])
    assert (mixed > scores).all()


def test_rare_term_rate_is_low_for_held_out_news_and_high_for_another_language(russian):
    scorer = trained(RareTermRate())
    news = scorer.score_many(HELD_OUT)
    foreign = scorer.score_many(russian[:300])
    assert np.median(news) < 0.25
    assert np.median(foreign) > 0.75  # (the translations keep Latin option names like --help)
    assert (scorer.score_many(HELD_OUT) == news).all()  # scoring does not learn


def test_the_vocabulary_is_learned_from_the_stream():
    scorer = RareTermRate()
    rates = []
    for start in range(0, len(STREAM), 500):
        scorer.learn_many(STREAM[start : start + 500])
        rates.append(float(np.mean(scorer.score_many(HELD_OUT))))
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1] + 0.05


def test_an_extremely_long_text_scores_near_one_and_a_typical_one_low():
    scorer = trained(LengthExtremity())
    typical = scorer.score_many(HELD_OUT)
    long_texts = [" ".join(HELD_OUT[i : i + 20]) for i in range(0, 200, 20)]  # 20 stories joined
    assert np.median(typical) < 0.7
    assert scorer.score_many(long_texts).min() > 0.99
    lengths = np.array([len(t) for t in HELD_OUT])
    s = scorer.score_many(HELD_OUT)
    # the most extreme lengths score highest
    assert s[np.argmax(np.abs(np.log1p(lengths) - scorer.mean))] == s.max()


def test_scores_stay_in_the_unit_interval_for_every_text_of_every_dataset(russian):
    texts = NEWS[:300] + [t for t, _ in rows("sst2", 300)] + [t for t, _ in rows("banking77", 300)]
    texts += russian[:100]
    scorers = make_text_scorers(["rare_terms", "script_mixing", "length_extremity"])
    for start in range(0, len(texts), 50):
        for name, s in score_texts(scorers, texts[start : start + 50]).items():
            assert ((s >= 0) & (s <= 1)).all(), name


def test_an_unknown_scorer_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown text scorer \['sentiment'\]; choose from"):
        make_text_scorers(["rare_terms", "sentiment"])


VOCABULARY = sorted({w for t in NEWS[:500] for w in words(t)})


@settings(max_examples=50, deadline=None)
@given(picks=st.lists(st.tuples(st.integers(0, len(VOCABULARY) - 1), st.integers(1, 5)),
                      min_size=1, max_size=300),
       width=st.sampled_from([64, 1024, 2**16]))
def test_the_count_min_sketch_never_undercounts_and_keeps_its_size(picks, width):
    sketch = CountMinSketch(width=width, depth=4)
    truth: Counter[str] = Counter()
    for start in range(0, len(picks), 50):
        batch = Counter()
        for i, n in picks[start : start + 50]:
            batch[VOCABULARY[i]] += n
        sketch.add_many(batch)
        truth.update(batch)
    keys = list(truth)
    assert (sketch.estimate_many(keys) >= np.array([truth[k] for k in keys])).all()
    assert sketch.table.shape == (4, width) and sketch.total == sum(truth.values())
    if width == 2**16:  # wide enough for a few hundred words: (nearly) exact
        assert (sketch.estimate_many(keys) == np.array([truth[k] for k in keys])).mean() > 0.95
