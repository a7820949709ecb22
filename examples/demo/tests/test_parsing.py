import pytest


@pytest.mark.parametrize("text,expected", [("1", 1), ("42", 42)])
def test_int_parse(text, expected):
    assert int(text) == expected


def test_split_words():
    words = "a quick brown fox".split()
    assert len(words) == 5
