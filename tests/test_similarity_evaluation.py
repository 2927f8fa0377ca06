"""The shipped « Ça ressemble à… » engine on the whole French evaluation set
(boards/similarity/evaluation/): it must show the right card for at least
90 % of duplicates and 80 % of low-overlap paraphrases, while at most 15 % of
new posts get any suggestion. `python -m boards.similarity.evaluate` prints
the full table."""

from __future__ import annotations

import pytest

from boards.similarity import evaluate, text

pytestmark = pytest.mark.once


@pytest.fixture(scope="module")
def data():
    return evaluate.load()


@pytest.fixture(scope="module")
def shipped(data):
    return evaluate.shipped_metrics(data)


def test_the_set_is_as_large_as_promised(data):
    counts = data.pairs()
    assert len(data.cards) + len(data.posts) >= 150
    assert sum(counts.values()) >= 300
    assert counts["duplicate, low overlap"] >= sum(counts.values()) / 2
    assert (~data.duplicate).sum() >= 50


def test_low_overlap_means_at_most_one_shared_content_word(data):
    for post, low in zip(data.posts, data.low_overlap, strict=True):
        if low:
            card = data.cards[[c["id"] for c in data.cards].index(post["duplicate_of"])]
            assert text.content_overlap(post["text"], card["statement"]) <= 1


def test_the_right_card_is_shown_for_nine_duplicates_in_ten(shipped):
    assert shipped["dup"] >= evaluate.TARGETS["dup"], shipped


def test_the_right_card_is_shown_for_eight_low_overlap_paraphrases_in_ten(shipped):
    assert shipped["low"] >= evaluate.TARGETS["low"], shipped


def test_at_most_fifteen_new_posts_in_a_hundred_get_a_suggestion(shipped):
    assert shipped["new"] <= evaluate.TARGETS["new"], shipped
