import pytest

from labeling.pii import mask_personal_data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+x@mail.example.org today", "write to [email] today"),
        ("call +44 20 7946 0958 now", "call [phone] now"),
        ("call (555) 123-4567.", "call [phone]."),
        ("reset at https://bank.example/reset?token=abc123", "reset at https://bank.example/reset?[token]"),
        ("https://x.example/u/9f8e7d6c5b4a39281706f5e4/confirm", "https://x.example/u/[token]/confirm"),
        ("see www.scam.biz/offer.", "see www.scam.biz/offer."),
    ],
)
def test_personal_data_is_masked(text, expected):
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize("text", ["costs $1,000 in 2024", "version 3.14.15", "order #12345", "tel 12-34"])
def test_ordinary_numbers_and_words_are_kept(text):
    assert mask_personal_data(text) == text
