"""benchmarks/readme_tables.py: the README's default-run tables regenerated from a run."""
import importlib.util
import json
from pathlib import Path

import pytest

from core.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_tables_come_from_the_run_and_replace_only_what_stands_between_their_markers(trained, tmp_path):
    mod = _module()
    art, run = trained
    metrics = json.loads((run.path / "metrics.json").read_text())
    profiles = json.loads((run.path / "profiles.json").read_text())
    out = mod.blocks(run)
    assert set(out) == {"default-run", "default-propensity", "default-propensity-notes", "default-methods",
                        "default-segments"}
    assert f"Grade: {metrics['grade']['grade']}." in out["default-propensity-notes"]
    # one row per scorer, per method compared, per segment, with the run's own figures
    xgb = next(r for r in metrics["comparison"] if r["key"] == "xgboost")
    assert out["default-propensity"].count("\n") == 1 + len(metrics["comparison"])
    assert f"| {xgb['model']} | {xgb['roc_auc']:.3f} [{xgb['roc_auc_ci'][0]:.3f}, " in out["default-propensity"]
    assert out["default-segments"].count("\n") == 1 + len(profiles)
    assert f"| 0 | {profiles[0]['name']} | {profiles[0]['size']:,} |" in out["default-segments"]
    comparison = metrics["segmentation"]["method_comparison"] or [None]
    assert out["default-methods"].count("\n") == 1 + len(comparison)
    assert out["default-run"].startswith(f"Run `{run.run_id}` (seed 7, ")

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- readme_tables:default-run -->\nold\n<!-- /readme_tables:default-run -->\nend\n")
    assert mod.write(readme, {"default-run": "new"}) == ("intro\n<!-- readme_tables:default-run -->\nnew\n"
                                                         "<!-- /readme_tables:default-run -->\nend\n")
    with pytest.raises(DataError, match="readme_tables:default-methods"):
        mod.write(readme, {"default-methods": "x"})
    assert mod.main(["--artifacts", str(art), "--write", str(readme)]) == 1   # other blocks' markers missing
    assert "old" in readme.read_text()   # and the file is left as it was
