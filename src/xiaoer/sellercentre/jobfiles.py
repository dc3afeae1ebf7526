"""An import job's files: its folder under the data directory, the uploads, the
rejects files and their reasons.

Each job has its folder ``<data>/imports/job-<id>``, owner-only like every file in
it (:mod:`xiaoer.core.files`): the uploaded exports, and the rejects files the
import writes beside them with each file's reasons kept as data. The uploads are
deleted when the job ends; the rejects files stay for the policy's days.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from xiaoer.core.files import open_private, private_dir, remove_tree
from xiaoer.core.sheets import csv_writer
from xiaoer.core.texts import from_data, to_data
from xiaoer.sellercentre.exports import SNIFF_BYTES, sniff_encoding

_FOLDER = re.compile(r"^job-(\d+)$")


def imports_root(data_dir: Path) -> Path:
    """The folder of the jobs' folders, created owner-only."""
    return private_dir(data_dir / "imports")


def new_job_folder(root: Path, job_id: int) -> Path:
    """An empty private folder for a new job (a folder left by a job whose row was
    never committed is emptied)."""
    folder = root / f"job-{job_id}"
    if folder.exists():
        remove_tree(folder)
    return private_dir(folder)


def job_folders(root: Path) -> dict[int, Path]:
    """The jobs' folders under ``root`` by job id; anything else there is not ours."""
    if not root.is_dir():
        return {}
    found: dict[int, Path] = {}
    for entry in root.iterdir():
        match = _FOLDER.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found[int(match.group(1))] = entry
    return found


def folder_of(job_id: int, stored: object) -> Path | None:
    """The job's folder as stored on its row, if it is one of ours (a row never names
    another folder for deletion)."""
    if not isinstance(stored, str) or not stored:
        return None
    folder = Path(stored)
    return folder if folder.name == f"job-{job_id}" else None


MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # one export file; a year of a large shop's orders
_CHUNK = 1024 * 1024


class UploadTooLarge(Exception):
    """The uploaded file passed :data:`MAX_UPLOAD_BYTES`; what was written is deleted."""


def store_upload(source: BinaryIO, target: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    written = 0
    with open_private(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                break
            out.write(chunk)
    if written > max_bytes:
        target.unlink(missing_ok=True)
        raise UploadTooLarge(target.name)


def drop_uploads(folder: Path, rejects: Iterable[str]) -> None:
    """Delete what the job's folder holds but its rejects files and their reasons; the
    folder itself when nothing is left."""
    if not folder.is_dir():
        return
    kept = {Path(p).name for p in rejects}
    kept |= {reasons_path(Path(name)).name for name in kept}
    for entry in folder.iterdir():
        if entry.name in kept:
            continue
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            entry.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


# Rejects files are written beside their input in English, as the command line
# writes them. A job keeps each file's reasons as data next to it, so that a
# download gives them in the reader's language.
_REASONS_SUFFIX = ".reasons.json"


def reasons_path(rejects: Path) -> Path:
    return rejects.with_name(rejects.name + _REASONS_SUFFIX)


def _rejects_encoding(rejects: Path) -> str:
    """The encoding ``exports.write_rejects`` gave the file: its input's, or UTF-8 with
    a byte-order mark (its header's 行号 and 原因 tell GB18030 from UTF-8)."""
    with rejects.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    return sniff_encoding(head, whole_file=len(head) < SNIFF_BYTES)


def keep_reasons(rejects: Path, reasons: Iterable[str]) -> None:
    data = {"encoding": _rejects_encoding(rejects), "reasons": [to_data(r) for r in reasons]}
    with open_private(reasons_path(rejects), "w", encoding="utf-8") as out:
        out.write(json.dumps(data, ensure_ascii=False))


def translated_rejects(rejects: Path, translate: Callable[[str], str]) -> Path:
    """The rejects file with its reasons passed through ``translate``: a new file beside
    it that the caller deletes, or ``rejects`` itself when its reasons were not kept
    (older jobs) or it does not match them."""
    kept = reasons_path(rejects)
    if not kept.is_file():
        return rejects
    data = json.loads(kept.read_text("utf-8"))
    encoding = str(data["encoding"])
    reasons = [translate(from_data(r)) for r in data["reasons"]]
    with rejects.open(encoding=encoding, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) != len(reasons) + 1:
        return rejects
    # mkstemp makes the file owner-only; it lives in the job's private folder.
    out = tempfile.NamedTemporaryFile(  # noqa: SIM115 (handed to the caller)
        "w",
        encoding=encoding,
        newline="",
        suffix=".csv",
        prefix=".download-",
        dir=rejects.parent,
        delete=False,
    )
    with out:
        writer = csv_writer(out)
        writer.writerow(rows[0])
        for row, reason in zip(rows[1:], reasons, strict=True):
            writer.writerow([*row[:-1], reason])
    return Path(out.name)
