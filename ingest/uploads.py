"""Saving files uploaded from the browser into the corpus folder, safely.

Plain functions, no Streamlit: a name is reduced to one harmless file name (no folders,
no `..`, no control or direction-override characters, no hidden files), only the formats
ingestion reads are accepted, a size limit applies, and an existing file is never
overwritten: a second `report.pdf` is saved as `report (2).pdf`. A refusal is an
`UploadRejected` whose message is written for the person who uploaded the file.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import UsageError

from .formats import SUFFIXES as ALLOWED_SUFFIXES
ALLOWED_TYPES = tuple(s.lstrip(".") for s in ALLOWED_SUFFIXES)  # for st.file_uploader(type=...)
MAX_NAME_BYTES = 200  # leaves room for a " (NN)" suffix under the usual 255-byte limit
MAX_COPIES = 999
# Characters that are reserved on some file systems or awkward in shells and URLs.
_RESERVED = re.compile(r'[<>:"/\\|?*\x00]')
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class UploadRejected(UsageError):
    """One uploaded file was not saved; the message says why and what to do."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


@dataclass
class SavedUpload:
    original_name: str  # as the browser sent it
    path: Path  # where it was saved
    sha256: str

    @property
    def renamed(self) -> bool:
        return self.path.name != self.original_name


@dataclass
class UploadResult:
    saved: list[SavedUpload] = field(default_factory=list)
    rejected: list[UploadRejected] = field(default_factory=list)


def _shown(name: str) -> str:
    """The uploaded name, safe to repeat in a message (no control characters, not too long)."""
    clean = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in str(name))
    return clean if len(clean) <= 80 else clean[:77] + "…"


def sanitize_filename(name: str) -> str:
    """A safe file name for an upload, or UploadRejected.

    Keeps only the last path component (either slash), removes control and format
    characters (including right-to-left overrides that disguise an extension), replaces
    reserved characters, strips leading dots (hidden files are never ingested) and
    trailing dots and spaces, lowercases the extension and shortens long names.
    """
    shown = _shown(name)
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[\\/]", text)[-1]  # "../../x.txt", "C:\\x\\y.txt", "/etc/x.txt" -> last part
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # Cc, Cf, Cs, Co, Cn
    text = _RESERVED.sub("_", text)
    text = " ".join(text.split())  # tabs, newlines and runs of spaces -> one space
    text = text.lstrip(". ").rstrip(". ")
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = text, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in ALLOWED_SUFFIXES:
        got = f"“{suffix}” files" if suffix else "files without an extension"
        raise UploadRejected(name, f"{shown}: {got} are not accepted; upload {', '.join(ALLOWED_SUFFIXES)} files.")
    stem = stem.rstrip(". ")
    if not stem.strip("._- "):
        raise UploadRejected(name, f"{shown}: the file name has no usable characters; rename it and upload again.")
    if stem.lower() in _WINDOWS_DEVICES:
        stem = "_" + stem
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip(". ") + suffix


def check_size(name: str, size: int, limit_mb: int) -> None:
    shown = _shown(name)
    if size <= 0:
        raise UploadRejected(name, f"{shown}: the file is empty (0 bytes); nothing to add.")
    if size > limit_mb * 1024 * 1024:
        raise UploadRejected(name, f"{shown}: the file is {size / 2**20:.1f} MB, over the {limit_mb} MB upload limit "
                                   "(KB_UPLOAD_LIMIT_MB); split it or ask an administrator to raise the limit.")


def candidate_names(name: str):
    """report.pdf, report (2).pdf, report (3).pdf, …"""
    stem, suffix = os.path.splitext(name)
    yield name
    for n in range(2, MAX_COPIES + 1):
        yield f"{stem} ({n}){suffix}"


def save_upload(folder: Path | str, name: str, data: bytes, limit_mb: int,
                known: dict[str, str] | None = None) -> SavedUpload:
    """Save one upload into `folder` under a sanitised, unused name.

    `known` maps sha256 -> name of documents already in the knowledge base (and of files
    saved earlier in the same batch); identical content is refused rather than saved
    twice. The file appears under its final name complete or not at all: it is written to
    a hidden temporary file (ingestion skips hidden files) and linked into place, which
    fails instead of replacing a file that appeared meanwhile.
    """
    folder = Path(folder)
    safe = sanitize_filename(name)
    check_size(name, len(data), limit_mb)
    digest = hashlib.sha256(data).hexdigest()
    if known and digest in known:
        raise UploadRejected(name, f"{_shown(name)}: the same content is already in the knowledge base as "
                                   f"{known[digest]}; not added again.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        root = folder.resolve()
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            for candidate in candidate_names(safe):
                target = root / candidate
                if target.parent != root:  # cannot happen after sanitising; never write elsewhere
                    raise UploadRejected(name, f"{_shown(name)}: unsafe file name; rename it and upload again.")
                try:
                    os.link(tmp, target)  # atomic, and never replaces an existing file
                except FileExistsError:
                    continue
                except OSError:  # no hard links here (some network/FAT file systems)
                    if not _exclusive_copy(data, target):
                        continue
                return SavedUpload(str(name), target, digest)
            raise UploadRejected(name, f"{_shown(name)}: {MAX_COPIES} files with this name already exist in "
                                       f"{root}; rename the file and upload again.")
        finally:
            tmp.unlink(missing_ok=True)
    except UploadRejected:
        raise
    except OSError as exc:
        raise UploadRejected(name, f"{_shown(name)}: could not be saved in {folder} ({exc.strerror or exc}); "
                                   "check that the corpus folder exists and is writable.") from None


def _exclusive_copy(data: bytes, target: Path) -> bool:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def save_uploads(folder: Path | str, files: list[tuple[str, bytes]], limit_mb: int,
                 known: dict[str, str] | None = None) -> UploadResult:
    """Save every (name, bytes) it can; each refusal is kept with its reason."""
    known = dict(known or {})
    result = UploadResult()
    for name, data in files:
        try:
            saved = save_upload(folder, name, data, limit_mb, known)
        except UploadRejected as exc:
            result.rejected.append(exc)
            continue
        known[saved.sha256] = saved.path.name
        result.saved.append(saved)
    return result
