"""The tolerant word checks used on recognised speech must still tell words apart."""

from tests.speech_checks import heard, share_heard


def test_near_forms_count_as_heard() -> None:
    assert heard("pancakes", "we cooked a pancake together")
    assert heard("nervous", "I was very Nervous.")
    assert heard("sunday", "on Sundays")
    assert heard("visited", "my sister visitted")  # one letter off in a long word


def test_other_words_do_not() -> None:
    assert not heard("pancakes", "my sister visited on sunday")
    assert not heard("river", "the driver was late")
    assert not heard("elephant", "an element of doubt")
    assert not heard("dog", "a cat and a frog")
    assert not heard("cat", "the category")  # an ending of more than two letters is another word


def test_share_heard_counts_content_words() -> None:
    assert share_heard(["sister", "sunday", "pancakes"], "my sister came on sunday") == 2 / 3
