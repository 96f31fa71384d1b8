"""Every message people read is translated: each area's French and Spanish catalogs hold every
message its sources contain (extracted now, the way ``python3 dev.py i18n`` does), translated,
not fuzzy, with the same placeholders as the English."""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|(?<!{){(\w+)(?:![rsa])?(?::[^{}]*)?}(?!})")


def _dev() -> ModuleType:
    """dev.py, which holds the table of areas and how their messages are extracted."""
    spec = importlib.util.spec_from_file_location("g2p_dev", ROOT / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEV = _dev()
AREAS = sorted(DEV.I18N_AREAS)


@cache
def extracted(area: str, folder: Path) -> Catalog:
    pot = folder / f"{area}.pot"
    pybabel = str(Path(sys.executable).parent / "pybabel")
    assert DEV.i18n_extract(area, pot, pybabel) == 0, f"extracting {area} failed"
    if not pot.exists():  # an area with no sources yet has no messages
        return Catalog()
    with pot.open("rb") as handle:
        return read_po(handle)


def placeholders(text: str) -> list[str]:
    """The named placeholders of a message, sorted: ``{name}`` and ``%(name)s`` alike."""
    return sorted(a or b for a, b in PLACEHOLDER.findall(text))


def problems(source: Message, translated: Message | None) -> str | None:
    """What is wrong with the translation of ``source`` (None: nothing)."""
    if translated is None:
        return "missing"
    if translated.fuzzy:
        return "fuzzy"
    string = translated.string
    forms = [str(form or "") for form in (string if isinstance(string, list | tuple) else [string])]
    if not all(forms):
        return "not translated"
    english = str(source.id[-1] if isinstance(source.id, list | tuple) else source.id)
    for form in forms:
        if placeholders(form) != placeholders(english):
            return f"placeholders differ: {form!r}"
    return None


def test_placeholders_are_found_in_both_styles() -> None:
    assert placeholders("Batch {number} of {cycle!r}, {n:,}") == ["cycle", "n", "number"]
    assert placeholders("%(count)s paid, 100 %% of {{literal}}") == ["count"]


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("language", DEV.CATALOG_LANGUAGES)
def test_every_message_is_translated(
    language: str, area: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = extracted(area, tmp_path_factory.getbasetemp())
    path = DEV.LOCALE / language / "LC_MESSAGES" / f"{area}.po"
    if not len(source):
        return
    assert path.exists(), f"{path} is missing: run python3 dev.py i18n {area}"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = {}
    for message in source:
        if message.id:
            problem = problems(message, catalog.get(message.id, context=message.context))
            if problem:
                found[message.id if isinstance(message.id, str) else message.id[0]] = problem
    assert not found, f"{len(found)} messages of {path.name} ({language}): {found}"
