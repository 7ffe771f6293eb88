"""docs/reference/spec.md lists every key a table spec, its columns and a log spec take."""
import dataclasses
import re

import pytest

from core.errors import DataError
from core.inputs.log.spec import LogSpec
from core.inputs.spec import SPEC_KEYS, ColumnSpec, load_spec
from tests.support import REPO

DOC = (REPO / "docs" / "reference" / "spec.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    m = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert m, f"no section '{title}' in docs/reference/spec.md"
    return m.group(1)


def _undocumented(keys, text: str) -> list[str]:
    """Keys that no table row of ``text`` names in its first cell."""
    first_cells = " ".join(line.split(" | ")[0] for line in text.splitlines() if line.startswith("| "))
    return [k for k in keys if f"`{k}`" not in first_cells]


def test_every_table_spec_key_is_documented():
    assert _undocumented(SPEC_KEYS, _section("Top-level keys")) == []


def test_every_column_key_is_documented():
    keys = [f.name for f in dataclasses.fields(ColumnSpec) if f.name != "name"]
    assert _undocumented(keys, _section("`[columns.NAME]`")) == []


def test_every_log_spec_key_is_documented():
    keys = ["kind"] + [f.name for f in dataclasses.fields(LogSpec)]
    assert _undocumented(keys, _section("The log spec")) == []


def test_an_undocumented_key_is_found():
    assert _undocumented(["name", "weight_column"], _section("Top-level keys")) == ["weight_column"]


def test_the_documented_keys_are_the_ones_the_reader_takes(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\nid = "id"\nweight_column = "w"\n[columns.a]\nkind = "numeric"\ngroup = "behavioral"\n')
    with pytest.raises(DataError, match="unknown key 'weight_column'"):
        load_spec(spec)


def test_an_unknown_column_key_is_named(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\nid = "id"\n[columns.a]\nkind = "numeric"\ngroup = "behavioral"\nuse = false\n')
    with pytest.raises(DataError, match=r"^spec file .*s\.toml: column 'a': unknown key 'use'$"):
        load_spec(spec)
