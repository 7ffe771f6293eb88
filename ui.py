"""The pages' one way into core: settings, the active run, cached readers and computations,
shared widgets, error display, and the frame guard.

Pages read runs only through :class:`RunView` and the cached functions here; they never
fit a model or compute a metric themselves. Typed results (:mod:`core.runs.results`, frozen)
and tables are cached once per run id with ``st.cache_resource`` (shared, never copied:
pages must not modify them in place); computations that depend on widget values are
cached with ``st.cache_data`` keyed on the run id and those values. Hand-set segment names
are read again only when their file changes.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core import report
from core.actions import campaigns, views
from core.actions import jobs as job_actions
from core.errors import DataError
from core.formats import currency_of
from core.inputs.words import future
from core.ops.door import Backoff, log_wrong_password
from core.runs import store
from core.settings import Settings, load_settings

SETTINGS_FILE = Path("configs/default.toml")


def frame() -> None:
    """Hand a page opened without the app's frame over to the registered navigation.

    Streamlit 1.67 treats an app whose main script has a ``pages/`` folder beside it as a
    legacy multipage app until the main script has called ``st.navigation`` in this server
    process (``PagesManager.uses_pages_directory``, set when the first session starts and
    cleared by ``st.navigation``; ``AppTest`` sets it again before every run): such a run
    executes ``pages/<page>.py`` alone, without ``app.py``'s sidebar and page list. This
    guard, the first call of every page, then runs ``app.py`` in its place, in the same
    script run (so widget events are kept): its ``st.navigation`` switches the legacy mode
    off, resolves the same URL to the same page and runs it inside the frame; the page alone
    stops there. Under ``app.py`` it does nothing. Tested by a browser test that opens each
    page's URL as the first request of a fresh server.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    main = Path(get_script_run_ctx().pages_manager.main_script_path)
    exec(compile(main.read_text(encoding="utf-8"), str(main), "exec"), {"__name__": "__main__", "__file__": str(main)})
    st.stop()


def settings() -> Settings:
    """The app's settings: ``configs/default.toml`` (or the file the environment variable
    ``SHOPSPHERE_SETTINGS`` names); the environment variables ``SHOPSPHERE_ARTIFACTS`` (runs
    folder) and ``SHOPSPHERE_UPLOAD_MAX_MB`` override it. Read again only when the file or
    those variables change (a page asks for them many times a run)."""
    limit = os.environ.get("SHOPSPHERE_UPLOAD_MAX_MB")
    path = os.environ.get("SHOPSPHERE_SETTINGS") or (SETTINGS_FILE if SETTINGS_FILE.is_file() else None)
    stamp = Path(path).stat().st_mtime_ns if path and Path(path).is_file() else 0
    return _settings(str(path) if path else None, stamp, os.environ.get("SHOPSPHERE_ARTIFACTS"), limit)


@st.cache_resource(show_spinner=False, max_entries=8)
def _settings(path: str | None, stamp: int, artifacts: str | None, limit: str | None) -> Settings:
    """:func:`core.settings.load_settings` once per file version and environment."""
    return load_settings(path, artifacts_dir=artifacts, upload_max_mb=int(limit) if limit else None)


def data_sets() -> dict[str, str]:
    """``{data set: its current run id}``, the default data set first (read from disk each
    rerun: cheap, and sees a new retrain; :func:`core.runs.store.current_runs`)."""
    return store.current_runs(settings().artifacts_dir)


def active_dataset() -> str | None:
    """The data set this session looks at: the sidebar's choice (kept in the URL as
    ``?dataset=``, so a deep link carries it), else the default data set; None without runs."""
    sets = data_sets()
    chosen = st.session_state.get("dataset") or st.query_params.get("dataset")
    return chosen if chosen in sets else next(iter(sets), None)


def active_run_id() -> str | None:
    """The current run of the active data set (:func:`active_dataset`), or None."""
    dataset = active_dataset()
    return data_sets().get(dataset) if dataset else None


def dataset_picker() -> str | None:
    """The sidebar's data set choice (shown when there is more than one data set), bound to
    the URL's ``?dataset=``; returns the active data set. Another user's training of another
    table adds a choice here and changes nothing else."""
    sets = data_sets()
    if len(sets) > 1:
        names = list(sets)
        current = active_dataset()
        st.selectbox("Data set", names, index=names.index(current) if current in names else 0, key="dataset",
                     bind="query-params", help="Each data set keeps its own current run; the first is the default.")
    return active_dataset()


@st.cache_resource(show_spinner=False, max_entries=64)
def _result(artifacts: str, run_id: str, name: str):
    """A run's typed result (``manifest``, ``metrics``, ``profiles``, ``quality``,
    ``scoring``, ``continuity``), read once per run (runs are immutable; results are frozen)."""
    return getattr(store.load_run(Path(artifacts), run_id), name)()


@st.cache_resource(show_spinner="Loading the run's tables...", max_entries=16)
def _table(artifacts: str, run_id: str, name: str) -> pd.DataFrame:
    """A run's table, loaded once and shared by every session without copying (runs are
    immutable, and pages treat tables as read-only: ``st.cache_data`` would unpickle a fresh
    copy on every rerun)."""
    return store.load_run(Path(artifacts), run_id).table(name)


def _names_version(artifacts: str) -> int:
    f = Path(artifacts) / "display_names.json"
    return f.stat().st_mtime_ns if f.is_file() else 0


@st.cache_resource(show_spinner=False, max_entries=64)
def _segment_names(artifacts: str, run_id: str, version: int) -> tuple[dict[int, str], str | None]:
    """Hand-set over automatic names, read again when ``display_names.json`` changes
    (``version`` is its modification time); with a damaged names file, the automatic names
    and the one-line error."""
    run = store.load_run(Path(artifacts), run_id)
    try:
        return run.segment_names(), None
    except DataError as exc:
        return run.scoring().segment_names, str(exc)


@st.cache_resource(show_spinner=False, max_entries=32)
def _named_table(artifacts: str, run_id: str, name: str, version: int) -> pd.DataFrame:
    """The table with ``segment_name`` showing the current names (hand-set where set)."""
    df = _table(artifacts, run_id, name)
    names, _ = _segment_names(artifacts, run_id, version)
    return df.assign(segment_name=df["segment_id"].map(names))


class RunView:
    """Read-only, cached access to one run for the pages."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._art = str(settings().artifacts_dir)

    @property
    def artifacts(self) -> Path:
        """The runs folder."""
        return Path(self._art)

    @property
    def run(self) -> store.Run:
        """The run on disk (for core functions that take one)."""
        return store.load_run(self.artifacts, self.run_id)

    def manifest(self):
        """:class:`core.runs.results.Manifest`."""
        return _result(self._art, self.run_id, "manifest")

    def metrics(self):
        """:class:`core.runs.results.RunMetrics`."""
        return _result(self._art, self.run_id, "metrics")

    def quality(self):
        """:class:`core.runs.results.Quality`."""
        return _result(self._art, self.run_id, "quality")

    def continuity(self):
        """:class:`core.runs.results.Continuity`."""
        return _result(self._art, self.run_id, "continuity")

    def spec(self):
        """The run's :class:`~core.inputs.spec.DatasetSpec`."""
        return _spec(self._art, self.run_id)

    def has_table(self, name: str) -> bool:
        """True when the run has the table ``name``."""
        return self.run.has_table(name)

    def table(self, name: str) -> pd.DataFrame:
        """``scored``, ``features``, ``matrix``, ``projection``, ``importance``,
        ``shap_points``: the run's table, its ``segment_name`` column showing hand-set names
        where set. Read-only (shared by every session)."""
        df = _table(self._art, self.run_id, name)
        if "segment_name" in df.columns and "segment_id" in df.columns:
            return _named_table(self._art, self.run_id, name, _names_version(self._art))
        return df

    def segment_names(self) -> dict[int, str]:
        """``{segment_id: name}``: names set by hand win over the automatic persona names; a
        damaged names file is said once and the automatic names are shown."""
        names, error = _segment_names(self._art, self.run_id, _names_version(self._art))
        if error is None:
            st.session_state.pop("_names_error_shown", None)
        elif not st.session_state.get("_names_error_shown"):
            st.error(error)
            st.session_state["_names_error_shown"] = True
        return names

    def profiles(self) -> list:
        """The run's :class:`core.runs.results.SegmentProfile` list, ``name`` being the shown name
        (hand-set or automatic; :meth:`auto_names` has the automatic ones)."""
        names = self.segment_names()
        return [p.model_copy(update={"name": names[p.segment_id]}) for p in _result(self._art, self.run_id, "profiles")]

    def auto_names(self) -> dict[int, str]:
        """``{segment_id: automatic persona name}``."""
        return {p.segment_id: p.name for p in _result(self._art, self.run_id, "profiles")}

    @property
    def target_label(self) -> str:
        """What a positive outcome means for this data set ("bought in the next 30 days")."""
        return self.spec().target_label

    @property
    def target_future(self) -> str:
        """The target in the future tense, to follow "the probability that they"
        (:func:`core.inputs.words.future`: "will buy in the next 30 days")."""
        return future(self.spec().target_label)

    def feature_labels(self) -> dict:
        """``{column: plain-English label}`` from the run's spec."""
        return {c.name: c.label for c in self.spec().columns}

    def test_rows(self) -> pd.DataFrame:
        """The scored table's held-out test rows (empty when the run has none)."""
        return _test_rows(self._art, self.run_id)

    def report(self, kind: str) -> bytes:
        """The stakeholder report (``html`` or ``md``) as UTF-8 bytes, made on request."""
        fn = report.render_html if kind == "html" else report.render_markdown
        return fn(self.run).encode("utf-8")


@st.cache_resource(show_spinner=False, max_entries=16)
def _spec(artifacts: str, run_id: str):
    return store.load_run(Path(artifacts), run_id).spec()


@st.cache_resource(show_spinner=False, max_entries=8)
def _test_rows(artifacts: str, run_id: str) -> pd.DataFrame:
    scored = _table(artifacts, run_id, "scored")
    return scored[scored["split"] == "test"] if "split" in scored else scored.iloc[:0]


@st.cache_data(show_spinner=False, max_entries=256)
def economics(artifacts: str, run_id: str, budget_share: float, contact_cost: float, conversion_value: float) -> dict:
    """:func:`core.actions.views.economics` of the run (scored base and test rows), per run and parameters."""
    return views.economics(_table(artifacts, run_id, "scored"), _spec(artifacts, run_id).target, budget_share,
                           contact_cost, conversion_value)


@st.cache_resource(show_spinner=False, max_entries=16)
def base_budget(artifacts: str, run_id: str) -> pd.DataFrame:
    """:func:`core.actions.views.base_budget` of the run."""
    return views.base_budget(_table(artifacts, run_id, "scored"), _spec(artifacts, run_id).target)


@st.cache_resource(show_spinner=False, max_entries=16)
def group_importance(artifacts: str, run_id: str) -> pd.DataFrame:
    """:func:`core.actions.views.group_importance` of the run's importance table."""
    return views.group_importance(_table(artifacts, run_id, "importance"))


@st.cache_resource(show_spinner=False, max_entries=16)
def segment_only_scores(artifacts: str, run_id: str) -> dict:
    """:func:`core.actions.views.segment_only_scores` of the run; ``{"error": why}`` when not measurable."""
    return views.segment_only_scores(_table(artifacts, run_id, "scored"), _spec(artifacts, run_id).target)


@st.cache_resource(show_spinner=False, max_entries=128)
def filter_control(artifacts: str, run_id: str, column: str) -> dict:
    """:func:`core.actions.views.filter_control` for a feature of the run."""
    return views.filter_control(_table(artifacts, run_id, "features"), _spec(artifacts, run_id), column)


def banded_matrix(run: RunView, bands: str, relative_lift: float, segment_ids: list[int]) -> pd.DataFrame:
    """:func:`core.actions.views.banded_matrix` of the run's matrix (names as shown) restricted
    to ``segment_ids``; cached per run, names, bands, uplift and segments."""
    return _banded_matrix(run._art, run.run_id, _names_version(run._art), bands, relative_lift, tuple(segment_ids))


@st.cache_data(show_spinner=False, max_entries=256)
def _banded_matrix(artifacts: str, run_id: str, version: int, bands: str, relative_lift: float,
                   segment_ids: tuple) -> pd.DataFrame:
    return views.banded_matrix(_named_table(artifacts, run_id, "matrix", version), bands, relative_lift,
                               list(segment_ids))


def this_week(run: RunView) -> dict:
    """:func:`core.actions.views.this_week` of the run (names as shown), cached per run and names."""
    return _this_week(run._art, run.run_id, _names_version(run._art))


@st.cache_resource(show_spinner=False, max_entries=16)
def _this_week(artifacts: str, run_id: str, version: int) -> dict:
    return views.this_week(_named_table(artifacts, run_id, "matrix", version), _table(artifacts, run_id, "scored"))


def currency(run: "RunView | None" = None) -> str:
    """The prefix money is shown with: the currency a log-built run's log spec names (an ISO
    code, :func:`core.formats.currency_of`), else the settings' (:attr:`core.settings.Settings.currency`)."""
    code = None
    if run is not None:
        try:
            code = ((run.manifest().source or {}).get("log_spec") or {}).get("currency")
        except DataError:
            code = None
    return currency_of(code, settings().currency)


@st.cache_resource(show_spinner=False, max_entries=128)
def cached_figure(key: tuple, _build):
    """The Plotly figure ``_build()`` makes, built once per ``key`` and shared by every session.

    ``key`` must hold everything the figure depends on (the run's id and folder, the page's
    options); building a Plotly figure in plotly.py would otherwise be paid on every rerun.
    ``st.plotly_chart`` serialises a copy, so sharing is safe; pages must not modify the
    returned figure.
    """
    return _build()


def csv_download(label: str, table: pd.DataFrame, file_name: str) -> None:
    """A download button of ``table`` as a CSV safe for spreadsheets
    (:func:`core.actions.views.csv_bytes`), made when the button is clicked (a callable), not
    on every rerun of the page."""
    st.download_button(label, lambda: views.csv_bytes(table), file_name=file_name, mime="text/csv", on_click="ignore")


def clear_caches() -> None:
    """Forget every cached read and computation of runs (after a retrain, promote or roll
    back); the admin door's count of wrong passwords (:func:`_door`) is kept."""
    st.cache_data.clear()
    for fn in (_result, _table, _segment_names, _named_table, _spec, _test_rows, group_importance,
               segment_only_scores, filter_control, cached_figure):
        fn.clear()


SEGMENT_FILTER = "segment_filter"  # persistent UI state shared by the pages that filter segments


def segment_filter(run: RunView, options: list[str], label: str = "Segments") -> list[str]:
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
    """The active run, or an explanation and ``st.stop()`` when there is none or it cannot be
    read (a run of another version: the message says how to retrain)."""
    frame()
    rid = active_run_id()
    if rid is None:
        st.info("No trained run yet. Train one on the Admin page or with `python -m core train`.")
        st.stop()
    view = RunView(rid)
    try:  # a run of another version or a damaged file: one line, never a traceback
        view.manifest(), view.metrics(), _result(view._art, rid, "profiles"), view.continuity()
    except DataError as exc:
        show_error(exc)
        st.info("Roll back or promote another run on the Admin page (or python -m core rollback), or train a new "
                "run.")
        st.stop()
    return view


def show_error(exc: DataError) -> None:
    """Show a bad-input error as one line."""
    st.error(str(exc))


# -- background jobs (core.ops.jobs) ----------------------------------------------------------------
def client_address() -> str:
    """The address of this session's browser ("unknown" when Streamlit does not know it,
    as under AppTest)."""
    ip = st.context.ip_address
    return ip if isinstance(ip, str) and ip else "unknown"


def requested_by() -> str:
    """Who starts a job from this session, as the job shows it: "the app, client ADDRESS"."""
    return f"the app, client {client_address()}"


def start_job(start, *args, **kwargs):
    """Start a background job with a use case of :mod:`core.actions.jobs` (``start``, called
    with the app's settings, ``args``, ``kwargs`` and who asks); returns the job, or None
    after showing why it was refused (one line)."""
    try:
        return start(settings(), *args, requested_by=requested_by(), **kwargs)
    except DataError as exc:
        show_error(exc)
        return None


def job_line(job) -> str:
    """One line on a job: what it does and where it stands."""
    if job.status == "running":
        return f"{job.label}: {job.fraction:.0%}, {job.step}"
    if job.status == "queued":
        return f"{job.label}: starting"
    if job.status == "done":
        return f"{job.label}: done ({job.outcome or job.run_id})"
    if job.status == "failed":
        return f"{job.label}: failed: {job.error}"
    if job.status == "interrupted":
        return f"{job.label}: interrupted: {job.error}"
    return f"{job.label}: cancelled"


#: Finished jobs stay in the sidebar this long (seconds).
RECENT_S = 900


@st.fragment(run_every=2)
def jobs_sidebar() -> None:
    """The runs folder's jobs in the sidebar, every 2 s: those queued or running (step and
    progress bar) and those finished in the last 15 minutes. When a training job this
    session saw running finishes, the cached runs are forgotten and the app reruns, so every
    page shows the new current run."""
    from datetime import datetime, timezone

    recent = []
    now = datetime.now(timezone.utc)
    for j in job_actions.list_jobs(settings(), limit=20):
        if j.active or (j.finished_at and (now - datetime.fromisoformat(j.finished_at)).total_seconds() < RECENT_S):
            recent.append(j)
    seen = st.session_state.setdefault("_jobs_seen_active", set())
    finished_training = [j for j in recent if j.job_id in seen and not j.active and j.kind == "train"]
    if not recent:
        return
    st.caption("Jobs")
    for j in recent:
        if j.active:
            seen.add(j.job_id)
            st.progress(j.fraction, text=job_line(j))
        else:
            (st.success if j.status == "done" else st.warning)(job_line(j), icon=None)
    if finished_training:
        for j in finished_training:
            seen.discard(j.job_id)
        clear_caches()
        st.rerun()


# -- the activation database (core.actions.campaigns) ---------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=4)
def activation_db(url: str):
    """The activation database at ``url``, connected (and its tables made) once per server
    process; a database that cannot be reached raises DataError and is tried again next
    time (a failure is not cached)."""
    return campaigns.open_database(url)


@st.cache_data(show_spinner=False, ttl=15, max_entries=4)
def saved_cohorts(url: str) -> pd.DataFrame:
    """The saved cohorts (:func:`core.actions.campaigns.saved_cohorts`), read at most every 15 s."""
    return campaigns.saved_cohorts(activation_db(url))


@st.cache_data(show_spinner=False, max_entries=8)
def saved_cohort(url: str, cohort_id: str) -> tuple[dict, pd.DataFrame]:
    """A saved cohort (:func:`core.actions.campaigns.saved_cohort`), read once: its id is a
    hash of its content, so the same id always holds the same members."""
    return campaigns.saved_cohort(activation_db(url), cohort_id)


# -- the admin door -------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _door():
    """The wrong-password count of every session and client address (one per server process;
    :func:`clear_caches` keeps it)."""
    return Backoff()


def admin_gate(secret: str) -> None:
    """Ask for the admin password once per session, behind progressive delays
    (:class:`core.ops.door.Backoff`, keyed by this session and by the client's address): the
    wait is shown and the form refuses tries until it is over. A failed try is logged
    (``logging`` and ``<artifacts>/monitoring/admin_door.jsonl``). Returns when this session
    has given the password; otherwise draws the form and stops the page."""
    import hmac
    import time

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if st.session_state.get("admin_ok"):
        return
    door = _door()
    address = client_address()
    ctx = get_script_run_ctx()
    keys = (("session", ctx.session_id if ctx else "none"), ("address", address))
    wait = door.wait_s(keys, time.time())
    with st.form("admin_login"):
        given = st.text_input("Admin password", type="password")
        go = st.form_submit_button("Open the Admin page", disabled=wait > 0)
    if go and wait <= 0:
        if given and hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            door.succeed(keys)
            st.session_state["admin_ok"] = True
            st.rerun()
        wait = door.fail(keys, time.time())
        log_wrong_password(settings().artifacts_dir, address, max(door.failures(k) for k in keys), wait)
        st.session_state["_door_wrong"] = True
        st.rerun()  # drawn again, so the form is closed at once when the try costs a wait
    if st.session_state.pop("_door_wrong", False):
        st.error("Wrong admin password.")
    if wait > 0:
        _door_wait(keys)
    else:
        st.info("Admin actions need the admin password.")
    st.stop()


@st.fragment(run_every=1)
def _door_wait(keys) -> None:
    """The wait before the next password try, counted down each second; the page reruns
    (and the form opens again) when it is over."""
    import math
    import time

    wait = _door().wait_s(keys, time.time())
    if wait <= 0:
        st.rerun()
    st.warning(f"Too many wrong passwords from this browser or address: the next try is taken in {math.ceil(wait)} s.")


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
