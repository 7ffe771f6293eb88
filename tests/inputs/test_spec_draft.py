"""Tables as people send them: drafted specs, tables without an id, encodings, Excel,
numbers written with currency signs, and exports that cannot run as spreadsheet formulas."""
import io

import numpy as np
import pandas as pd
import pytest

from core import cli
from core.activation.exports import csv_bytes, neutralise, write_table
from core.errors import DataError
from core.inputs import spec_draft, tables, validation
from core.inputs.spec import load_spec
from tests.support import MARKETING


def _export(n=300, seed=0) -> pd.DataFrame:
    """A small customer export without an id column: spend with currency signs and
    thousands separators, a yes/no flag, a date, a text column with accents, a TRUE/FALSE
    target named like a conversion."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2, 600, n)
    visits = rng.poisson(4, n)
    p = 1 / (1 + np.exp(-(visits - 4) / 2))
    return pd.DataFrame({
        "Total Spend": [f"${v:,.2f}" for v in spend],
        "NumVisits": visits,
        "Newsletter": rng.choice(["Yes", "No"], n),
        "Signup Date": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%d/%m/%Y"),
        "Région": rng.choice(["Île-de-France", "Bretagne", "Provence-Alpes-Côte d’Azur"], n),
        "Converted": np.where(rng.random(n) < p, "TRUE", "FALSE"),
    })


def test_the_marketing_table_drafts_a_spec_that_trains_unchanged(tmp_path):
    df = tables.read_table(MARKETING)
    draft = spec_draft.draft_spec(df, name="marketing", source="marketing_campaign.csv")
    spec = draft.spec
    assert spec.target == "Response" and spec.id_column == "ID" and not spec.id_from_row
    kinds = {c.name: c.kind for c in spec.columns}
    groups = {c.name: c.group for c in spec.columns}
    assert kinds["MntWines"] == "currency" and kinds["NumWebPurchases"] == "count"
    assert kinds["AcceptedCmp1"] == "binary" and kinds["Education"] == "categorical" and kinds["Dt_Customer"] == "date"
    assert groups["MntWines"] == "transactional" and groups["Income"] == "demographics"
    assert groups["AcceptedCmp1"] == "campaigns" and groups["Complain"] == "support"
    assert set(spec.ignore) == {"Z_CostContact", "Z_Revenue"}   # constant columns
    assert spec.column("Dt_Customer").date_format == "%m/%d/%Y" and spec.recency_column == "Recency"
    path = tmp_path / "m.toml"
    path.write_text(spec_draft.spec_toml(draft, "marketing_campaign.csv"), encoding="utf-8")
    back = load_spec(path)
    assert back == spec
    clean, _ = validation.validate(df, back, require_target=True)
    assert len(clean) == 2240 and clean["Response"].sum() == 334
    text = path.read_text()
    assert "Dt_Customer" not in draft.notes   # some dates have a day above 12: the order is certain
    # only dates whose day and month could swap are flagged
    few = spec_draft.draft_spec(pd.DataFrame({"Joined": ["01/02/2020", "03/04/2021", "05/06/2022"] * 20,
                                              "Spend": np.arange(60.0), "Converted": [0, 1] * 30}))
    assert few.notes["Joined"].startswith("dates read as %d/%m/%Y (day and month could be the other way round")
    assert "# CHECK" not in text and "unit = \"days\"" in text   # nothing doubtful in this table
    assert "# CHECK" in spec_draft.spec_toml(few, "few.csv")


def test_a_table_without_an_id_gets_row_numbers(tmp_path):
    df = _export()
    draft = spec_draft.draft_spec(df, source="export.csv")
    assert draft.spec.id_from_row and draft.spec.target == "Converted"
    clean, quality = validation.validate(df, draft.spec, require_target=True)
    assert clean[draft.spec.id_column].tolist()[:3] == ["1", "2", "3"] and clean[draft.spec.id_column].iloc[-1] == "300"
    notes = validation.quality_notes(quality, {}, training=True)
    assert any("no id column: the row number (1-based" in n for n in notes)
    assert any("'Total Spend': 300 value(s) written with a currency sign" in n for n in notes)
    assert clean["Total Spend"].iloc[0] == pytest.approx(float(df["Total Spend"].iloc[0].strip("$").replace(",", "")))
    assert set(clean["Newsletter"].unique()) == {0.0, 1.0}
    kinds = {c.name: c.kind for c in draft.spec.columns}
    assert kinds == {"Total Spend": "currency", "NumVisits": "count", "Newsletter": "binary", "Signup Date": "date",
                     "Région": "categorical"}
    path = tmp_path / "s.toml"   # a column name with a space or an accent is a quoted TOML key
    path.write_text(spec_draft.spec_toml(draft), encoding="utf-8")
    assert load_spec(path) == draft.spec


def test_windows_1252_and_latin1_files_are_read_and_said(tmp_path):
    df = _export(50)
    # Latin-1 text without control bytes reads the same in Windows-1252, its superset for printable text
    for enc, name in [("cp1252", "Windows-1252"), ("latin-1", "Windows-1252")]:
        frame = df.assign(Région=df["Région"].str.replace("’", "'")) if enc == "latin-1" else df
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(frame.to_csv(index=False, sep=";").encode(enc))
        back = tables.read_table(p)
        assert back.attrs["encoding"] == name and back["Région"].tolist() == frame["Région"].tolist()
        _, quality = validation.validate(back, spec_draft.draft_spec(back).spec, require_target=True)
        assert any(f"read as {name} text" in n for n in validation.quality_notes(quality, {}))
    # a byte that Windows-1252 leaves undefined (0x81) is read as Latin-1, never a crash
    (tmp_path / "odd.csv").write_bytes(b"a,Converted\n\x81x,1\ny,0\n")
    assert tables.read_table(tmp_path / "odd.csv").attrs["encoding"] == "Latin-1 (ISO-8859-1)"
    utf = tmp_path / "bom.csv"
    utf.write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False).encode("utf-8"))
    assert list(tables.read_table(utf).columns)[0] == "Total Spend" and tables.read_table(utf).attrs["encoding"] == "UTF-8"
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated
    u16 = tmp_path / "unicode.txt"
    u16.write_bytes(df.to_csv(index=False, sep="\t").encode("utf-16"))
    back = tables.read_table(u16)
    assert back.attrs["encoding"] == "UTF-16" and back["Région"].tolist() == df["Région"].tolist()
    (tmp_path / "binary.csv").write_bytes(b"PK\x03\x04\x00\x00garbage\n\x00\x01")
    with pytest.raises(DataError, match=r"binary.csv: not a text table \(it holds binary data\)"):
        tables.read_table(tmp_path / "binary.csv")


def test_excel_workbooks_first_sheet_or_named(tmp_path):
    df = _export(40)
    p = tmp_path / "book.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as w:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(w, sheet_name="Cover", index=False)
        df.to_excel(w, sheet_name="Customers", index=False)
    assert list(tables.read_table(p).columns) == ["note"]
    got = tables.read_table(p, sheet="Customers")
    assert got["Région"].tolist() == df["Région"].tolist() and len(got) == 40
    assert tables.read_table(p, sheet="1").shape == df.shape
    with pytest.raises(DataError, match=r"book.xlsx: no sheet 'Orders' \(the workbook has 'Cover', 'Customers'\)"):
        tables.read_table(p, sheet="Orders")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="broken.xlsx: cannot read the file"):
        tables.read_table(tmp_path / "broken.xlsx")


def test_the_target_is_guessed_only_when_one_column_fits():
    df = _export(60)
    with pytest.raises(DataError, match=r"more than one column could be the target \(Converted, Churned\)"):
        spec_draft.draft_spec(df.assign(Churned=df["Converted"]))
    with pytest.raises(DataError, match="no binary column is named like a response.*--target COLUMN"):
        spec_draft.draft_spec(df.drop(columns="Converted"))
    with pytest.raises(DataError, match=r"target 'Région' is not binary \(values found:"):
        spec_draft.draft_spec(df, target="Région")
    with pytest.raises(DataError, match="column 'NumVisits' \\(--id\\) is not a unique id"):
        spec_draft.draft_spec(df, id_column="NumVisits")
    assert spec_draft.draft_spec(df.assign(CustomerID=np.arange(60) + 1000)).spec.id_column == "CustomerID"
    with pytest.raises(DataError, match=r"target 'Converted' holds one value only \('1'\): a model needs customers"):
        spec_draft.draft_spec(df.assign(Converted=1), target="Converted")


def test_words_and_labels_of_column_names():
    assert spec_draft.words("MntWines") == ["mnt", "wines"]
    assert spec_draft.words("ProductRelated_Duration") == ["product", "related", "duration"]
    assert spec_draft.words("NumWebVisitsMonth") == ["num", "web", "visits", "month"]
    assert spec_draft.label("Year_Birth") == "year of birth"
    assert spec_draft.words("HTTPStatus2xx") == ["http", "status", "2", "xx"]
    # letters of any script (they were dropped: "Région" read "r gion")
    assert spec_draft.label("Région") == "région" and spec_draft.words("ÉtatCivil") == ["état", "civil"]
    assert spec_draft.words("Total spend 12m ($)") == ["total", "spend", "12", "m"]


ATTACK = '=HYPERLINK("http://evil.example/x","click")'


def test_exports_neutralise_formulas_and_keep_numbers(tmp_path):
    df = pd.DataFrame({"customer_id": [ATTACK, "+1-2", "@SUM(A1)", "-12.5", "\tx", "ok"],
                       "propensity": [0.1, -0.5, 0.3, 0.4, 0.5, 0.6], "decile": [1, 2, 3, 4, 5, 6],
                       "segment": pd.Categorical(["=a", "b", "c", "d", "e", "f"])})
    safe = neutralise(df)
    assert safe["customer_id"].tolist() == ["'" + ATTACK, "'+1-2", "'@SUM(A1)", "-12.5", "'\tx", "ok"]
    assert safe["segment"].tolist()[0] == "'=a"
    pd.testing.assert_frame_equal(safe[["propensity", "decile"]], df[["propensity", "decile"]])
    back = pd.read_csv(io.BytesIO(csv_bytes(df)))
    assert back["customer_id"].iloc[0] == "'" + ATTACK and back["propensity"].tolist() == df["propensity"].tolist()
    out = write_table(df, tmp_path / "scores.csv")
    assert not any(str(v).startswith(("=", "+", "@")) for v in pd.read_csv(out)["customer_id"])
    write_table(df, tmp_path / "scores.parquet")   # Parquet keeps the values as they are: no spreadsheet reads it
    assert pd.read_parquet(tmp_path / "scores.parquet")["customer_id"].iloc[0] == ATTACK


def test_spec_draft_command_writes_a_spec_train_accepts(tmp_path, capsys):
    src = tmp_path / "export.csv"
    _export().to_csv(src, index=False)
    out = tmp_path / "export.toml"
    assert cli.main(["spec", "draft", str(src), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "id: none found, so the row number (1-based) is the customer id" in err
    spec = load_spec(out)
    assert spec.id_from_row and spec.name == "export"
    assert cli.main(["spec", "draft", str(src), "--target", "Nope"]) == 2
    assert "no column 'Nope' (--target)" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(src), "--spec", str(out), "--target", "Converted"]) == 2
    assert "leave them out with --spec" in capsys.readouterr().err


def test_admin_drafts_a_spec_for_a_table_no_spec_fits(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.support import REPO

    monkeypatch.setenv("SHOPSPHERE_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    box = next(s for s in at.selectbox if s.key == "upload_spec")
    box.set_value(box.options[-1]).run()   # (none: draft a spec from the table)
    at.file_uploader(key="table_upload").set_value(("export.csv", _export().to_csv(index=False).encode("cp1252"),
                                                    "text/csv")).run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.key == "draft_target").value == "Converted"
    assert next(s for s in at.selectbox if s.key == "draft_id").value == "(row number)"
    assert any("id: none found" in c.value for c in at.caption)
    assert any(b.label.startswith("Save this spec as configs") for b in at.button)
    assert not (tmp_path / "art" / "uploads").exists()   # nothing is written until training starts
    at.button(key="FormSubmitter:mapping-Check the table").click().run()
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert any("no id column: the row number" in n for n in notes)
    assert any("read as Windows-1252 text" in n for n in notes)
    assert any(b.label == "Train a new run on this table" for b in at.button)


def test_draft_checks_named_by_what_the_data_shows(tmp_path, capsys):
    df = _export(300)   # dd/mm/yyyy with days above 12: no day/month doubt
    draft = spec_draft.draft_spec(df.assign(Purchased=df["Converted"]), target="Converted")
    assert "Signup Date" not in draft.notes and draft.spec.column("Signup Date").reason.endswith("{value} days ago")
    assert "named like a target" in draft.notes["Purchased"]
    counts = spec_draft.draft_spec(df.assign(NumDealsPurchases=np.arange(len(df)) % 7), target="Converted")
    assert "NumDealsPurchases" not in counts.notes  # a count of purchases is a feature, not a second target
    src = tmp_path / "export.csv"
    df.to_csv(src, index=False)
    assert cli.main(["spec", "draft", str(src), "--out", str(tmp_path / "new" / "folder" / "s.toml")]) == 0
    assert (tmp_path / "new" / "folder" / "s.toml").exists()
    capsys.readouterr()
    (tmp_path / "afile").write_text("x")
    assert cli.main(["spec", "draft", str(src), "--out", str(tmp_path / "afile" / "s.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "cannot write" in err[0]
    assert cli.main(["spec", "draft", str(src), "--sheet", "Customers"]) == 2
    assert "is not an Excel workbook: --sheet goes with .xlsx files" in capsys.readouterr().err
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as w:
        pd.DataFrame({"Info": ["read me"]}).to_excel(w, sheet_name="ReadMe", index=False)
        df.to_excel(w, sheet_name="Customers", index=False)
    assert cli.main(["spec", "draft", str(book)]) == 2
    assert "(sheet 'ReadMe'; also 'Customers': choose with --sheet)" in capsys.readouterr().err


def test_the_run_folders_csv_is_neutralised_too(tmp_path):
    from core.runs.store import write_run_table

    imp = pd.DataFrame({"feature": [ATTACK, "age"], "mean_abs_shap": [-0.25, 0.5]})
    back = pd.read_csv(write_run_table(tmp_path, "importance", imp))
    assert back["feature"].tolist() == ["'" + ATTACK, "age"] and back["mean_abs_shap"].tolist() == [-0.25, 0.5]
    assert pd.read_parquet(write_run_table(tmp_path, "scored", imp))["feature"].iloc[0] == ATTACK


def test_an_id_column_that_repeats_is_no_feature_and_is_said():
    df = _export(300).assign(ID=lambda d: [str(i) for i in range(len(d))])
    df.loc[6, "ID"] = df.loc[5, "ID"]                     # one id on two rows (data rows 6 and 7)
    draft = spec_draft.draft_spec(df, target="Converted")
    assert draft.spec.id_from_row and "ID" not in draft.spec.feature_names and "ID" in draft.spec.ignore
    said = next(d for d in draft.decisions if d.startswith("ignored: "))
    assert "ID (named like an id but '5' repeats at row 6 and row 7" in said and "give --id ID" in said
    clean = spec_draft.draft_spec(df.drop(index=6), target="Converted")
    assert clean.spec.id_column == "ID" and not clean.spec.id_from_row
