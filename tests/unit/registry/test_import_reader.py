"""Reading import files: what is refused as a whole file, what travels with one row."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from g2p_payment_phee.errors import FieldError, ImportRejected
from g2p_payment_phee.registry.import_reader import (
    FieldLabels,
    RawRow,
    guess_format,
    read_rows,
)

HEADER = b"reference,name,phone,id_type,id_value\n"


def csv_rows(data: bytes) -> list[RawRow]:
    return list(read_rows(data, "csv"))


def rejection(data: bytes, fmt: str = "csv") -> str:
    with pytest.raises(ImportRejected) as excinfo:
        list(read_rows(data, fmt))  # type: ignore[arg-type]
    return excinfo.value.message


def test_a_utf8_bom_is_stripped_and_headers_are_case_insensitive() -> None:
    data = codecs.BOM_UTF8 + b"Reference, NAME \nR1,Amina\n"
    [row] = csv_rows(data)
    assert row.values == {"reference": "R1", "name": "Amina"}
    assert row.present == {"reference", "name"}


def test_a_latin1_file_is_refused_naming_the_byte_and_line() -> None:
    data = "reference,name\nR1,Amina\nR2,Zoé\n".encode("latin-1")
    message = rejection(data)
    assert "must be UTF-8" in message
    assert "byte 0xE9 at offset 29 (line 3)" in message


def test_a_bad_byte_after_the_first_read_block_is_located_exactly() -> None:
    body = b"reference,name\n" + b"R1,Amina\n" * 150_000
    data = body + "R2,Zoé\n".encode("latin-1")
    message = rejection(data)
    assert f"offset {len(body) + 5} (line 150002)" in message


def test_a_truncated_multibyte_character_at_the_end_is_refused() -> None:
    data = "reference,name\nR1,Zoé".encode()[:-1]
    assert "must be UTF-8" in rejection(data)


def test_utf16_files_are_named_as_such() -> None:
    data = "reference,name\nR1,A\n".encode("utf-16")
    assert "UTF-16" in rejection(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"reference\nR1\n", "missing required columns: name"),
        (b"name,birthdate\nA,1980-01-01\n", "missing required columns: reference"),
        (b"reference,name,nickname,colour\n", "unknown columns: nickname, colour"),
        (b"reference,name,Name\n", "duplicate columns in the header: name"),
        (b"reference,,name\n", "column 2 of the header has no name"),
        (b"reference;name;phone\nR1;A;+254712345678\n", "separated by ';'"),
        (b"reference,name,id_type\n", "id_type and id_value go together"),
        (b"reference,name,id_expiry\n", "id_expiry needs the columns id_type and id_value"),
        (b"reference,name,bank_name\n", "bank_name need an account_number or iban column"),
    ],
)
def test_unusable_headers_reject_the_file(data: bytes, message: str) -> None:
    assert message in rejection(data)


def test_malformed_csv_names_the_line() -> None:
    data = b'reference,name\nR1,Amina\nR2,"Otieno\nR3,Kamau\n'
    message = rejection(data)
    assert "malformed CSV at the row starting on line 3" in message
    assert "unexpected end of data" in message
    assert "line 3" in rejection(b'reference,name\nR1,A\nR2,"B"x\n')


def test_malformed_csv_late_in_the_file_is_found_before_any_row_is_returned() -> None:
    data = b"reference,name\n" + b"R1,Amina\n" * 20_000 + b'R2,"B"x\n'
    with pytest.raises(ImportRejected, match="line 20002"):
        read_rows(data, "csv")


def test_rows_with_too_many_or_too_few_values_are_row_errors() -> None:
    data = b"reference,name\nR1,Amina,extra\nR2\nR3,Kamau\n"
    rows = csv_rows(data)
    assert [row.row for row in rows] == [2, 3, 4]
    assert rows[0].problems == [
        FieldError(
            "row",
            "has 3 values but the header has 2 columns "
            "(a value containing a comma must be enclosed in double quotes)",
            2,
        )
    ]
    assert "has 1 values" in rows[1].problems[0].reason
    assert rows[2].problems == []


def test_blank_rows_are_skipped_but_keep_spreadsheet_row_numbers() -> None:
    data = b"reference,name\n\nR1,Amina\n,\r\nR2,Kamau\n"
    assert [(row.row, row.values["reference"]) for row in csv_rows(data)] == [(3, "R1"), (5, "R2")]


def test_quoted_values_may_hold_commas_quotes_and_line_breaks() -> None:
    data = b'reference,name\nR1,"Doe, ""Jane""\nSmith"\n'
    [row] = csv_rows(data)
    assert row.values["name"] == 'Doe, "Jane"\nSmith'


def test_phones_split_on_semicolons_and_ids_form_one_entry() -> None:
    data = HEADER + b"R1,Amina,+254712345678; +254722345678 ;,National ID,12345678\nR2,B,,,\n"
    first, second = csv_rows(data)
    assert first.values["phones"] == ["+254712345678", " +254722345678 "]
    assert first.values["ids"] == [{"type": "National ID", "value": "12345678", "expiry": ""}]
    assert second.values["phones"] == []
    assert second.values["ids"] == []
    assert second.present == {"reference", "name", "phones", "ids"}


def test_bank_details_without_an_account_are_row_errors() -> None:
    data = b"reference,name,bank_name,account_number,iban\nR1,A,Equity,,\nR2,B,,,\n"
    first, second = csv_rows(data)
    assert first.problems == [
        FieldError("bank_name", "is given without an account_number or iban", 2)
    ]
    assert first.values["bank_accounts"] == []
    assert second.problems == []


def test_an_expiry_without_an_id_is_a_row_error() -> None:
    data = b"reference,name,id_type,id_value,id_expiry\nR1,A,,,2030-01-01\n"
    [row] = csv_rows(data)
    assert row.problems == [FieldError("id_expiry", "is given without an ID", 2)]


def test_json_rows_are_numbered_from_one_and_keep_nested_lists() -> None:
    document = [
        {"reference": "R1", "name": "A", "phones": ["+254712345678"], "email": None},
        {
            "reference": "R2",
            "ids": [{"type": "National ID", "value": "12345678"}],
            "bank_accounts": [{"iban": "DE89370400440532013000"}],
        },
    ]
    first, second = list(read_rows(json.dumps(document).encode(), "json"))
    assert (first.row, second.row) == (1, 2)
    assert first.values == {
        "reference": "R1",
        "name": "A",
        "email": "",
        "phones": ["+254712345678"],
    }
    assert second.values["ids"] == [{"type": "National ID", "value": "12345678", "expiry": ""}]
    assert second.values["bank_accounts"][0]["iban"] == "DE89370400440532013000"
    assert second.values["bank_accounts"][0]["bank_code"] == ""
    assert second.present == {"reference", "ids", "bank_accounts"}


def test_json_type_and_key_problems_are_row_errors() -> None:
    document = [
        "R1",
        {"reference": 7, "name": "A", "nick": "x", "phones": "+254712345678"},
        {"reference": "R3", "ids": [{"type": "T", "value": "1", "colour": "red"}, 5]},
    ]
    rows = list(read_rows(json.dumps(document).encode(), "json"))
    assert rows[0].problems == [FieldError("row", "must be a JSON object", 1)]
    assert {(p.field, p.reason) for p in rows[1].problems} == {
        ("nick", "is not a known field"),
        ("reference", "must be a string, not int"),
        ("phones", "must be a list of strings"),
    }
    assert {(p.field, p.reason) for p in rows[2].problems} == {
        ("ids[0].colour", "is not a known field"),
        ("ids[1]", "must be an object"),
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"reference": "R1",}]', "malformed JSON at line 1, column 21"),
        (b'{"reference": "R1"}', "must hold an array"),
        (b'[\n{"reference": "R1"}\n{"reference": "R2"}]', "line 3, column 1"),
    ],
)
def test_unreadable_json_rejects_the_file(data: bytes, message: str) -> None:
    assert message in rejection(data, "json")


def test_formats_are_guessed_from_the_name_or_first_character(tmp_path: Path) -> None:
    assert guess_format(tmp_path / "people.JSON", None) == "json"
    assert guess_format(tmp_path / "people.csv", None) == "csv"
    assert guess_format(codecs.BOM_UTF8 + b" \n[{}]", None) == "json"
    assert guess_format(b"reference,name\n", None) == "csv"
    assert guess_format(b"[]", "csv") == "csv"
    with pytest.raises(ImportRejected, match=r"name it \.csv or \.json"):
        guess_format(tmp_path / "people.xlsx", None)
    with pytest.raises(ImportRejected, match="unknown import format 'xml'"):
        guess_format(b"", "xml")  # type: ignore[arg-type]


def test_a_path_that_cannot_be_opened_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="cannot open"):
        read_rows(tmp_path / "missing.csv", "csv")


def test_field_labels_name_csv_columns_and_json_paths() -> None:
    csv_labels, json_labels = FieldLabels("csv"), FieldLabels("json")
    assert csv_labels.nested("ids", 0, "value") == "id_value"
    assert csv_labels.nested("phones", 1) == "phone"
    assert csv_labels.nested("bank_accounts", 0, "iban") == "iban"
    assert json_labels.nested("ids", 1, "value") == "ids[1].value"
    assert json_labels.nested("phones", 2) == "phones[2]"
    assert json_labels.prefix("bank_accounts", 0) == "bank_accounts[0]."
