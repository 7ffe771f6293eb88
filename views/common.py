"""Shared helpers for the pages: settings, the active run, cached loaders, error display.

Pages read runs only; they never fit a model (the Admin page calls the same
``core.pipeline.train`` as the CLI). Tables are cached once per run id with
``st.cache_resource`` (shared, never copied: pages must not modify them in place); JSON
files with ``st.cache_data``, cleared after a retrain.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core import registry
from core.config import Settings, load_settings
from core.errors import DataError
from core.pipeline import ScoringModel

SETTINGS_FILE = Path("configs/default.toml")


def settings() -> Settings:
    """The app's settings: ``configs/default.toml``; the environment variables
    ``SHOPSPHERE_ARTIFACTS`` (runs folder) and ``SHOPSPHERE_UPLOAD_MAX_MB`` override it."""
    limit = os.environ.get("SHOPSPHERE_UPLOAD_MAX_MB")
    return load_settings(SETTINGS_FILE if SETTINGS_FILE.is_file() else None,
                         artifacts_dir=os.environ.get("SHOPSPHERE_ARTIFACTS"),
                         upload_max_mb=int(limit) if limit else None)


def active_run_id() -> str | None:
    """The current run id (read from disk each rerun: cheap, and sees a new retrain)."""
    return registry.current_run_id(settings().artifacts_dir)


@st.cache_data(show_spinner=False)
def _json(artifacts: str, run_id: str, name: str):
    run = registry.load_run(Path(artifacts), run_id)
    return run._json(name) if (run.path / name).is_file() else None


@st.cache_resource(show_spinner="Loading the run's tables...", max_entries=16)
def _table(artifacts: str, run_id: str, name: str) -> pd.DataFrame:
    """A run's table, loaded once and shared by every session without copying (runs are
    immutable, and pages treat tables as read-only: ``st.cache_data`` would unpickle a fresh
    copy on every rerun, 0.4 s for the 240K-row scored table)."""
    return registry.load_run(Path(artifacts), run_id).table(name)


class RunView:
    """Read-only, cached access to one run's outputs for the pages."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._art = str(settings().artifacts_dir)

    @property
    def artifacts(self) -> Path:
        """The runs folder."""
        return Path(self._art)

    def json(self, name: str):
        """``manifest``, ``metrics``, ``profiles``, ``quality``, ``scoring``, ``continuity``: the
        run's JSON file (None for an optional file the run does not have)."""
        return _json(self._art, self.run_id, f"{name}.json")

    def has_table(self, name: str) -> bool:
        """True when the run has the table ``name`` (runs of older versions lack some)."""
        return (registry.load_run(Path(self._art), self.run_id).path / f"{name}.parquet").is_file()

    def table(self, name: str) -> pd.DataFrame:
        """``scored``, ``features``, ``matrix``, ``projection``, ``importance``,
        ``shap_points``: the run's table, its ``segment_name`` column showing hand-set names
        where set. Read-only: the frame without that column is the shared cached one."""
        df = _table(self._art, self.run_id, name)
        if "segment_name" in df.columns and "segment_id" in df.columns:
            df = df.assign(segment_name=df["segment_id"].map(self.segment_names()))
        return df

    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``: names set by hand win over the automatic persona names."""
        try:
            names = registry.load_run(self.artifacts, self.run_id).segment_names()
        except DataError as exc:  # a damaged names file: say so once, show the automatic names
            if not st.session_state.get("_names_error_shown"):
                show_error(exc)
                st.session_state["_names_error_shown"] = True
            return {p["segment_id"]: p["name"] for p in self.json("profiles")}
        st.session_state.pop("_names_error_shown", None)
        return names

    def profiles(self) -> list[dict]:
        """The run's segment profiles, ``name`` being the shown name (hand-set or automatic)
        and ``auto_name`` the automatic one."""
        names = self.segment_names()
        return [{**p, "auto_name": p["name"], "name": names[p["segment_id"]]} for p in self.json("profiles")]

    @property
    def target_label(self) -> str:
        """What a positive outcome means for this data set ("bought in the next 30 days")."""
        return self.json("manifest").get("spec", {}).get("target_label") or "responded"

    def feature_labels(self) -> dict:
        """``{column: plain-English label}`` from the run's spec."""
        return {c["name"]: c["label"] for c in self.json("manifest")["spec"]["columns"]}


@st.cache_resource(show_spinner="Loading the models...")
def scoring_model(artifacts: str, run_id: str) -> ScoringModel:
    """The run's scoring objects, loaded once per run id and shared (never hashed or copied)."""
    return ScoringModel.load(registry.load_run(Path(artifacts), run_id))


@st.cache_resource(show_spinner=False, max_entries=128)
def cached_figure(key: tuple, _build):
    """The Plotly figure ``_build()`` makes, built once per ``key`` and shared by every session.

    ``key`` must hold everything the figure depends on (the run's id and folder, the page's
    options); building a Plotly figure costs 0.05-0.2 s in plotly.py, which would otherwise
    be paid on every rerun. ``st.plotly_chart`` serialises a copy, so sharing is safe; pages
    must not modify the returned figure.
    """
    return _build()


SEGMENT_FILTER = "segment_filter"  # persistent UI state shared by the pages that filter segments


def segment_filter(run: "RunView", options: list[str], label: str = "Segments") -> list[str]:
    """A segment multiselect (of the shown ``options``, segment names) whose choice survives
    switching pages.

    Streamlit drops a widget's state when its page is left, so the choice is copied to a
    plain session-state key on change and restored when the widget is drawn again. It is
    kept as segment ids of one run, so renaming a segment keeps it chosen, and another run
    (a retrain, a promotion) starts again from every segment.
    """
    names = run.segment_names()
    by_name = {n: i for i, n in names.items()}
    saved = st.session_state.get(SEGMENT_FILTER)
    if isinstance(saved, dict) and saved.get("run") == run.run_id:
        default = [o for o in options if by_name.get(o) in saved["ids"]]
    else:
        default = list(options)

    def _keep():
        st.session_state[SEGMENT_FILTER] = {"run": run.run_id, "ids": [by_name[n] for n in
                                                                       st.session_state["_segment_filter_widget"]
                                                                       if n in by_name]}

    return st.multiselect(label, options, default=default, key="_segment_filter_widget", on_change=_keep)


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


def admin_password() -> str | None:
    """The admin password: Streamlit secret ``admin_password``, else the environment
    variable ``SHOPSPHERE_ADMIN_PASSWORD``; None when neither is set (or empty)."""
    try:
        secret = st.secrets.get("admin_password")
    except Exception:  # no secrets file: Streamlit raises rather than returning nothing
        secret = None
    return secret or os.environ.get("SHOPSPHERE_ADMIN_PASSWORD") or None


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")


def server_is_local(address: str | None = None) -> bool:
    """True when the server listens on the loopback interface only (``server.address``;
    an empty address means all interfaces)."""
    addr = st.get_option("server.address") if address is None else address
    return bool(addr) and addr in LOCAL_ADDRESSES
