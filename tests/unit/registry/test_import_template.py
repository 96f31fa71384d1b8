"""The import template holds every column docs/import.md describes, with an example row."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl

from g2p_payment_phee.registry.import_reader import CSV_COLUMNS
from g2p_payment_phee.registry.import_template import template_csv, template_xlsx

DOCS = Path(__file__).resolve().parents[3] / "docs" / "import.md"


def _documented_columns() -> set[str]:
    """The column names in the first cell of docs/import.md's CSV table."""
    text = DOCS.read_text(encoding="utf-8").split("## CSV", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_the_csv_template_has_every_documented_column_and_an_example() -> None:
    rows = list(csv.reader(io.StringIO(template_csv().decode("utf-8"), newline="")))
    assert rows[0] == list(CSV_COLUMNS)
    assert set(rows[0]) == _documented_columns()
    assert len(rows) == 2
    example = dict(zip(rows[0], rows[1], strict=True))
    assert example["reference"]
    assert example["phone"].startswith("+")  # not quoted away as a formula


def test_the_xlsx_template_holds_the_same_cells() -> None:
    book = openpyxl.load_workbook(io.BytesIO(template_xlsx()), read_only=True)
    cells = [[c or "" for c in row] for row in book.active.iter_rows(values_only=True)]
    expected = list(csv.reader(io.StringIO(template_csv().decode("utf-8"), newline="")))
    assert cells == expected
