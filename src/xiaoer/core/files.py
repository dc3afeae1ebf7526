"""Files the server keeps for the shop, readable by the server's own user only.

Uploaded exports and rejects files carry buyers' names, phones and addresses.
They live under the data directory (``Settings.data_path``) in folders of mode
0700 and files of mode 0600. The modes are set outright after creation, so a
permissive umask cannot widen them, and a file is created with no more than
0600 in the first place, so it is never readable by others, not even for the
moment between creating and tightening it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO, Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter, created with any missing parents
    (each of them private too); an existing folder is tightened."""
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(PRIVATE_DIR)
        os.chmod(created, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open` that makes the file owner-only."""
    descriptor = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def open_private(path: Path, mode: str = "wb", **options: Any) -> IO[Any]:
    """``open(path, mode)`` for writing a file only its owner may read."""
    return open(path, mode, opener=private_opener, **options)


def remove_tree(path: Path) -> None:
    """Remove a folder and what is in it; one already gone is fine."""
    shutil.rmtree(path, ignore_errors=True)
