"""Files uploaded in the app, kept under ``artifacts/uploads/`` for a training or scoring job."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from core.activation.exports import write_table
from core.errors import DataError


def save_upload(artifacts: Path, table: pd.DataFrame, dataset: str, content: bytes) -> Path:
    """Keep an uploaded, mapped table for training: ``uploads/<dataset>-<sha256 of the
    uploaded bytes, 12 hex>.parquet`` under the runs folder, written atomically
    (:func:`core.activation.exports.write_table`); returns the path. Raises DataError when it cannot be
    written."""

    return write_table(table, Path(artifacts) / "uploads" / f"{dataset}-{hashlib.sha256(content).hexdigest()[:12]}.parquet")


def save_upload_bytes(artifacts: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded file as sent (a transaction log): ``uploads/<stem>-<sha256 of the
    bytes, 12 hex><suffix>`` under the runs folder, written to a temporary name and moved
    into place; returns the path. Raises DataError when it cannot be written."""

    src = Path(name)
    out = Path(artifacts) / "uploads" / f"{src.stem}-{hashlib.sha256(content).hexdigest()[:12]}{src.suffix.lower()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(content)
        os.replace(tmp, out)
    except OSError as exc:
        raise DataError(f"{out}: cannot keep the upload ({exc.strerror or exc})") from None
    return out
