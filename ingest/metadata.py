"""Document metadata: the folder's sidecar file wins, then what the file says, then its name.

The sidecar is `metadata.json` beside the documents, keyed by file name:

    {"report.pdf": {"title": "...", "publisher": "...", "year": 2020, "type": "policy brief"}}

A field left out or empty falls back to what extraction found (PDF metadata, HTML meta
tags, the first heading) and, for the title, to the file name.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

SIDECAR_NAME = "metadata.json"
FIELDS = ("title", "publisher", "year", "type")


class SidecarError(ValueError):
    pass


def sidecar_for(path: Path) -> dict:
    """The sidecar entry for a file ({} when there is none)."""
    sidecar = path.parent / SIDECAR_NAME
    if not sidecar.is_file():
        return {}
    st = sidecar.stat()
    return _load(str(sidecar), st.st_mtime_ns, st.st_size).get(path.name, {})


@lru_cache(maxsize=64)
def _load(sidecar: str, _mtime_ns: int, _size: int) -> dict:
    try:
        data = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{sidecar} is not valid JSON ({exc}); fix it to apply its metadata") from None
    if not isinstance(data, dict):
        raise SidecarError(f"{sidecar} must hold an object keyed by file name")
    out = {}
    for name, entry in data.items():
        if isinstance(entry, dict):
            out[name] = {k: entry[k] for k in FIELDS if entry.get(k) not in (None, "")}
            if "year" in out[name]:
                try:
                    out[name]["year"] = int(out[name]["year"])
                except (TypeError, ValueError):
                    raise SidecarError(f"{sidecar}: year of {name!r} must be a number") from None
    return out


def title_from_name(path: Path) -> str:
    stem = re.sub(r"[_\-]+", " ", path.stem).strip()
    return stem[:1].upper() + stem[1:] if stem else path.name


def resolve(path: Path, extracted_title: str | None, extracted_publisher: str | None,
            extracted_year: int | None, sidecar: dict) -> dict:
    return {
        "title": sidecar.get("title") or extracted_title or title_from_name(path),
        "publisher": sidecar.get("publisher") or extracted_publisher,
        "year": sidecar.get("year") or extracted_year,
        "doc_type": sidecar.get("type"),
    }
