"""Shared helpers for the pages: settings, the active run, cached loaders, error display.

Pages read runs only; they never fit a model (the Admin page calls the same
``core.pipeline.train`` as the CLI). Tables are cached with ``st.cache_data`` keyed on the
run id; after a retrain the caches are cleared.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core import registry
from core.config import Settings, load_settings
from core.errors import DataError

SETTINGS_FILE = Path("configs/default.toml")


def settings() -> Settings:
    """The app's settings: ``configs/default.toml``; ``SHOPSPHERE_ARTIFACTS`` overrides the runs folder."""
    return load_settings(SETTINGS_FILE, artifacts_dir=os.environ.get("SHOPSPHERE_ARTIFACTS"))


def active_run_id() -> str | None:
    """The current run id (read from disk each rerun: cheap, and sees a new retrain)."""
    return registry.current_run_id(settings().artifacts_dir)


@st.cache_data(show_spinner=False)
def _json(artifacts: str, run_id: str, name: str):
    return registry.load_run(Path(artifacts), run_id)._json(name)


@st.cache_data(show_spinner="Loading the run's tables...")
def _table(artifacts: str, run_id: str, name: str) -> pd.DataFrame:
    return registry.load_run(Path(artifacts), run_id).table(name)


class RunView:
    """Read-only, cached access to one run's outputs for the pages."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._art = str(settings().artifacts_dir)

    def json(self, name: str):
        """``manifest``, ``metrics``, ``profiles``, ``quality``, ``spec``: the run's JSON file."""
        return _json(self._art, self.run_id, f"{name}.json")

    def table(self, name: str) -> pd.DataFrame:
        """``scored``, ``matrix``, ``projection``, ``importance``: the run's table."""
        return _table(self._art, self.run_id, name)

    @property
    def target_label(self) -> str:
        """What a positive outcome means for this data set ("bought in the next 30 days")."""
        return self.json("manifest").get("spec", {}).get("target_label") or "responded"

    def feature_labels(self) -> dict:
        """``{column: plain-English label}`` from the run's spec."""
        return {c["name"]: c["label"] for c in self.json("spec")["columns"]}


def require_run() -> RunView:
    """The active run, or an explanation and ``st.stop()`` when there is none."""
    rid = active_run_id()
    if rid is None:
        st.info("No trained run yet. Train one on the Admin page or with `python -m core train`.")
        st.stop()
    return RunView(rid)


def show_error(exc: DataError) -> None:
    """Show a bad-input error as one line."""
    st.error(str(exc))
