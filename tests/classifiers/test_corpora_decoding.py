"""The demo corpus reader keeps the characters of mails whose files hold Latin-1 bytes."""

import json

from classifiers.corpora import read_mail


def _write(path, text_bytes: bytes) -> None:  # noqa: ANN001
    record = json.dumps({"group": "easy-ham-1", "checksum": {"value": "abc"}, "text": "PLACEHOLDER"}).encode()
    path.write_bytes(record.replace(b"PLACEHOLDER", text_bytes))


def test_a_latin1_byte_in_the_file_is_read_as_latin1_not_a_replacement_character(tmp_path):
    path = tmp_path / "mail.json"
    _write(path, b"From: a@example.com\\nSubject: Gru\xdf\\n\\nHerr Fahrl\xe4nder schreibt.")
    mail = read_mail(path)
    assert "Fahrländer" in mail.body and "\ufffd" not in mail.body
    assert mail.subject == "Gruß"


def test_utf8_next_to_a_stray_byte_is_kept(tmp_path):
    path = tmp_path / "mail.json"
    _write(path, "From: a@example.com\\nSubject: café\\n\\nna\xefve ".encode() + b"M\xfcller")
    mail = read_mail(path)
    assert mail.subject == "café" and mail.body == "naïve Müller"


def test_a_quoted_printable_latin1_body_without_a_charset_is_read_as_latin1(tmp_path):
    path = tmp_path / "mail.json"
    text = "From: a@example.com\\nSubject: x\\nContent-Transfer-Encoding: quoted-printable\\n\\nFahrl=E4nder =E2=82=AC"
    _write(path, text.encode())
    assert read_mail(path).body == "Fahrl\xe4nder \xe2\x82\xac"  # not UTF-8 as a whole: each byte as Latin-1


def test_text_beyond_latin1_in_the_file_is_kept(tmp_path):
    path = tmp_path / "mail.json"
    _write(path, "From: a@example.com\\nSubject: x\\n\\nPrice: 5 € — ok".encode())
    assert read_mail(path).body == "Price: 5 € — ok"


def test_a_nul_decoded_from_a_quoted_printable_body_is_dropped(tmp_path):
    # PostgreSQL text columns refuse NUL: the demo loader failed on the one corpus mail that decodes to one.
    path = tmp_path / "mail.json"
    text = "From: a@example.com\\nSubject: a=00b\\nContent-Transfer-Encoding: quoted-printable\\n\\nbe=00fore after"
    _write(path, text.encode())
    mail = read_mail(path)
    assert mail.body == "before after" and "\x00" not in mail.text


def test_a_seven_bit_iso_2022_jp_body_is_decoded_not_left_as_escape_sequences(tmp_path):
    # ISO-2022-JP needs no transfer encoding: the file holds the escape sequences as ASCII.
    path = tmp_path / "mail.json"
    body = "こんにちは、会議の件です。".encode("iso-2022-jp").decode("ascii")
    headers = "From: a@example.com\\nSubject: x\\nContent-Type: text/plain; charset=iso-2022-jp\\n\\n"
    _write(path, headers.encode() + json.dumps(body)[1:-1].encode())
    mail = read_mail(path)
    assert mail.body == "こんにちは、会議の件です。" and "\x1b" not in mail.text


def test_an_escape_character_in_a_part_of_another_charset_is_left_alone(tmp_path):
    path = tmp_path / "mail.json"
    headers = "From: a@example.com\\nSubject: x\\nContent-Type: text/plain; charset=us-ascii\\n\\n"
    _write(path, headers.encode() + b"colour \\u001b[31mred\\u001b[0m")
    assert read_mail(path).body == "colour \x1b[31mred\x1b[0m"
