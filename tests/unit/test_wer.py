from bot.wer import content_word_recall, normalize, word_error_rate


def test_normalization_spells_digits_and_drops_punctuation() -> None:
    assert normalize("I go to bed at 11, now!") == "i go to bed at eleven now"
    assert normalize("Me acuesto a las 11.", "es") == "me acuesto a las once"


def test_word_error_rate_counts_substitutions() -> None:
    assert word_error_rate("the cat sat", "the cat sat") == 0.0
    assert abs(word_error_rate("the cat sat down", "the dog sat down") - 0.25) < 1e-9


def test_content_word_recall() -> None:
    assert content_word_recall("breathing exercise helped", "the exercise helped") == 2 / 3
