"""The registrant import template: every column the importer reads (docs/import.md), in its
order, with one example row, as CSV or XLSX.

The XLSX copy is for filling in a spreadsheet; the importer reads CSV, so it is saved as
"CSV UTF-8" before the upload (the page says so).
"""

from __future__ import annotations

import csv
import io

import xlsxwriter

from g2p_payment_phee.registry.import_reader import CSV_COLUMNS

EXAMPLE_ID_TYPE = "National ID"
EXAMPLE: dict[str, str] = {
    "reference": "HH-0001-1",
    "kind": "individual",
    "name": "Amina Njeri",
    "given_name": "Amina",
    "family_name": "Njeri",
    "birthdate": "1990-04-12",
    "gender": "female",
    "address": "Plot 12, Kisumu",
    "email": "amina@example.org",
    "phone": "+254712345678",
    "id_type": EXAMPLE_ID_TYPE,  # the ID type must exist before the import
    "id_value": "12345678",
    "id_expiry": "2030-12-31",
    "bank_name": "Example Bank",
    "bank_code": "EXBKKENA",
    "bank_country": "KE",
    "account_number": "0123456789",
    "iban": "",
    "group_reference": "",
}


def template_csv() -> bytes:
    """The template as UTF-8 CSV: the header and the example row (written as is: no cell of
    the example may be read as a formula, so none is quoted away)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow([EXAMPLE[column] for column in CSV_COLUMNS])
    return text.getvalue().encode("utf-8")


def template_xlsx() -> bytes:
    """The template as one XLSX sheet, every cell text (phones keep their ``+``)."""
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("registrants")
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})
    for index, column in enumerate(CSV_COLUMNS):
        sheet.set_column(index, index, max(14, len(column) + 2), text)
        sheet.write_string(0, index, column, bold)
        sheet.write_string(1, index, EXAMPLE[column], text)
    sheet.freeze_panes(1, 0)
    book.close()
    return data.getvalue()
