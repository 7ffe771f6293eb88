"""A run's model parts in formats that load without executing code.

A pickle (``joblib``) runs whatever code its bytes name when it is loaded, so a run folder
someone else wrote, or changed, could run their code on our machine. A run therefore holds:

- scikit-learn pipelines (the logistic baseline, the segmentation's preprocessing) as
  skops files (``.skops``; skops.io, "Secure persistence with skops": a zip of JSON and
  NumPy arrays, whose loader builds only the types it is told to trust). Every type a file
  names is checked against :data:`TRUSTED` (the skops loader trusts scikit-learn, NumPy
  and SciPy types by default; :data:`TRUSTED` adds the three preprocessing functions of
  ``core`` that our pipelines use) before anything is built. A file saved before
  ``core`` was cut into packages names those functions at their old paths
  (:data:`MOVED_MODULES`); it is read with the current paths (:func:`skops_bytes`), so
  runs saved then still load;
- arrays as NumPy ``.npz`` read with ``allow_pickle=False`` (an object array, which only
  a pickle can hold, is refused);
- the XGBoost model in its own JSON format, parameters and results as JSON, tables as
  Parquet (:mod:`core.runs`).

:func:`check_run_files` refuses a run folder that holds any other file, a pickle among
them, before any part of it is read.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio

from core.errors import DataError, first_line

#: Types a skops file of a run may name beyond skops' defaults (which cover scikit-learn,
#: NumPy and SciPy): the functions of our ``FunctionTransformer`` steps, and ``numpy.dtype``,
#: which skops 0.16 lists as untrusted although it builds no code.
TRUSTED = ("core.models.features._as_text", "core.models.features._log1p_clipped",
           "core.models.segmentation.neighbours.quantize", "numpy.dtype")

#: Modules of ``core`` whose functions skops files of earlier runs name, and where those
#: functions live now (``core`` was cut into packages; the run format did not change).
MOVED_MODULES = {"core.features": "core.models.features",
                 "core.segmentation.neighbours": "core.models.segmentation.neighbours"}

#: File names a run may hold (:func:`check_run_files`); ``*.json``, ``*.parquet`` and
#: ``*.csv`` (typed results, tables) are allowed by suffix.
MODEL_FILES = ("xgboost.json", "baseline.skops", "segmenter.json", "segmenter_preprocessor.skops",
               "segmenter_reference.npz")
DATA_SUFFIXES = (".json", ".parquet", ".csv")


def dump_pipeline(obj, path: Path) -> None:
    """Write a fitted scikit-learn object to ``path`` as a skops file."""

    sio.dump(obj, Path(path))


def skops_bytes(path: Path) -> bytes:
    """The bytes of the skops file ``path`` as this version of ``core`` reads them: a
    module of :data:`MOVED_MODULES` its ``schema.json`` names (``__module__`` of a node) is
    replaced by the module the function lives in now; other files are returned as they
    are. Nothing is built. Raises OSError, ``zipfile.BadZipFile``, KeyError (no
    ``schema.json``) or ValueError (a schema that is not JSON)."""
    data = Path(path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        schema = json.loads(z.read("schema.json"))
        if not _move_modules(schema):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as w:
            for item in z.infolist():  # same names, order and compression
                w.writestr(item, json.dumps(schema) if item.filename == "schema.json" else z.read(item.filename))
    return out.getvalue()


def _move_modules(node) -> bool:
    """Replace, in place, every ``__module__`` of :data:`MOVED_MODULES` in a skops schema;
    True when one was replaced."""
    moved = False
    if isinstance(node, dict):
        if node.get("__module__") in MOVED_MODULES:
            node["__module__"] = MOVED_MODULES[node["__module__"]]
            moved = True
        for value in node.values():
            moved = _move_modules(value) or moved
    elif isinstance(node, list):
        for value in node:
            moved = _move_modules(value) or moved
    return moved


def load_pipeline(path: Path, what: str):
    """The scikit-learn object in the skops file ``path``, built only when every type the
    file names is trusted (skops' defaults and :data:`TRUSTED`); a file of an earlier run
    that names a moved module is read with its current path (:func:`skops_bytes`).

    Raises
    ------
    DataError
        Naming ``what`` (e.g. "run X: baseline.skops") when the file is not a skops file
        (a pickle, say) or names a type that is not trusted; nothing in it has run then.
    """

    data, trusted = _checked(path, what)
    return sio.loads(data, trusted=trusted)


def check_pipeline(path: Path, what: str) -> list[str]:
    """Check, without building anything, that ``path`` is a skops file naming only trusted
    types; returns the types it names beyond skops' defaults. Raises DataError as
    :func:`load_pipeline`."""
    return _checked(path, what)[1]


def _checked(path: Path, what: str) -> tuple[bytes, list[str]]:
    """The file's bytes as :func:`skops_bytes` gives them and the types it names beyond
    skops' defaults, all of them trusted. Raises DataError as :func:`load_pipeline`."""

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{what} is not a skops file (a pickle would run code when loaded): refused; retrain")
    try:
        data = skops_bytes(path)
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops reads the file's own schema: any fault there means it is not ours
        raise DataError(f"{what} is not a readable skops file ({type(exc).__name__}): refused; retrain") from None
    foreign = sorted(set(untrusted) - set(TRUSTED))
    if foreign:
        raise DataError(f"{what} names types this product never saves ({', '.join(foreign[:3])}): refused; retrain")
    return data, list(untrusted)


def check_xgboost_json(path: Path, what: str) -> None:
    """Check that ``path`` holds an XGBoost model in its JSON format (UTF-8 JSON with a
    ``learner``), before XGBoost reads it. Raises DataError naming ``what``."""

    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        model = None
    if not isinstance(model, dict) or "learner" not in model:
        raise DataError(f"{what} is not an XGBoost model in JSON: refused; retrain")


def check_model_parts(folder: Path) -> None:
    """Check every model part of the run folder ``folder`` without building any: the
    XGBoost JSON, each skops file's types (:func:`check_pipeline`), each ``.npz`` read
    without pickles (:func:`load_arrays`). A part replaced by something else (a pickle) is
    refused here, whether or not this command would have loaded it.

    Raises DataError naming the run and the file."""
    folder = Path(folder)
    for name in MODEL_FILES:
        p = folder / name
        if not p.is_file():
            continue
        what = f"run {folder.name}: {name}"
        if name.endswith(".skops"):
            check_pipeline(p, what)
        elif name.endswith(".npz"):
            load_arrays(p, what)
        elif name == "xgboost.json":
            check_xgboost_json(p, what)


def dump_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write named numeric or boolean arrays to ``path`` (an ``.npz``, uncompressed).

    Raises ValueError for an object array (it would need a pickle)."""
    bad = [k for k, a in arrays.items() if np.asarray(a).dtype == object]
    if bad:
        raise ValueError(f"arrays {bad} are object arrays, which only a pickle can hold")
    with open(path, "wb") as fh:
        np.savez(fh, **{k: np.asarray(a) for k, a in arrays.items()})


def load_arrays(path: Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path``, read without pickles.

    Raises DataError naming ``what`` when the file is not an ``.npz`` of plain arrays."""
    path = Path(path)
    if not zipfile.is_zipfile(path):  # numpy would try it as a pickle (and say so): it is neither
        raise DataError(f"{what} is not an .npz array file: refused; retrain")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        why = ("it holds Python objects, which load as pickles" if "pickle" in str(exc)
               else first_line(exc, 80))
        raise DataError(f"{what} is not an array file this product wrote ({why}): refused; retrain") from None


def check_run_files(folder: Path) -> None:
    """Refuse a run folder that holds a file no run of this format holds (a ``.joblib`` or
    any pickle among them), before anything in it is read.

    Raises DataError naming the run and the first such file."""
    folder = Path(folder)
    for p in sorted(folder.iterdir()):
        if p.is_dir() or not (p.name in MODEL_FILES or p.suffix in DATA_SUFFIXES):
            raise DataError(f"run {folder.name} holds {p.name}, which no run holds (runs keep no code: a pickle "
                            "would run code when loaded): refused; remove it or retrain")
