"""Segment names set by hand (``display_names.json``): per data set and segment id, they win
over the automatic names and carry across retrains (ids do)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from core.errors import DataError

#: Longest segment name a person may set.
MAX_NAME_LENGTH = 60


def display_names(artifacts: Path, dataset: str) -> dict[int, str]:
    """Segment names set by hand for ``dataset``: ``{segment_id: name}`` (empty when none).

    Raises
    ------
    DataError
        The file is not valid JSON or not ``{data set: {segment id: name}}``.
    """
    f = Path(artifacts) / "display_names.json"
    if not f.is_file():
        return {}
    bad = f"{f}: not valid segment names (expected {{data set: {{segment id: name}}}}); fix or delete it " \
          "to use the automatic names"
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
        names = raw.get(dataset, {}) if isinstance(raw, dict) else None
        if not isinstance(names, dict) or not all(isinstance(v, str) and v.strip() for v in names.values()):
            raise DataError(bad)
        return {int(k): v.strip() for k, v in names.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise DataError(bad) from None


def set_display_name(artifacts: Path, dataset: str, segment_id: int, name: str | None,
                     taken: dict[int, str] | None = None, auto_name: str | None = None) -> None:
    """Set (or with an empty ``name``, clear) the hand-set name of a segment.

    Written atomically (temporary file, then ``os.replace``); runs are not touched.

    Parameters
    ----------
    taken : ``{segment_id: name}`` of the other segments shown beside it; a name already
        used by another segment is refused.
    auto_name : the segment's automatic name, shown again when the hand-set one is cleared
        (so clearing is refused when another segment now shows that name).

    Raises
    ------
    DataError
        The name is longer than :data:`MAX_NAME_LENGTH` characters, or another segment has it.
    """
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise DataError(f"segment name: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    shown = name or (auto_name or "")  # clearing brings the automatic name back: it must be free too
    for other, other_name in (taken or {}).items():
        if other != segment_id and shown and other_name.strip().lower() == shown.lower():
            raise DataError(f"segment name '{shown}' is already used by segment {other}"
                            + ("" if name else " (it is this segment's automatic name: rename that one first)"))
    display_names(artifacts, dataset)  # refuses a damaged file rather than overwrite it
    f = Path(artifacts) / "display_names.json"
    raw = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
    names = raw.setdefault(dataset, {})
    if name:
        names[str(int(segment_id))] = name
    else:
        names.pop(str(int(segment_id)), None)
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".display_names.{os.getpid()}")
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, f)
