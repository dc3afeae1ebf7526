"""Files kept for the shop are its owner's only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from xiaoer.core.files import open_private, private_dir

pytestmark = pytest.mark.database_free


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: nothing is taken away from the modes asked for."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_folders_are_made_owner_only_with_their_missing_parents(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    folder = private_dir(tmp_path / "data" / "imports" / "job-1")
    assert folder.is_dir()
    for path in (tmp_path / "data", tmp_path / "data" / "imports", folder):
        assert _mode(path) == 0o700, path
    assert _mode(tmp_path) == 0o755  # an existing parent is not ours to change


@pytest.mark.usefixtures("open_umask")
def test_an_existing_world_readable_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(0o777)
    assert _mode(folder) == 0o777
    private_dir(folder)
    assert _mode(folder) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_files_are_written_owner_only(tmp_path: Path) -> None:
    with open_private(tmp_path / "upload.csv") as out:
        out.write(b"a,b\n")
    assert _mode(tmp_path / "upload.csv") == 0o600
    loose = tmp_path / "loose.csv"
    loose.write_text("x")
    os.chmod(loose, 0o666)
    with open_private(loose, "w", encoding="utf-8") as out:
        out.write("y")
    assert (_mode(loose), loose.read_text()) == (0o600, "y")


def test_a_strict_umask_still_gives_the_owner_read_and_write(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        with open_private(tmp_path / "f.csv") as out:
            out.write(b"x")
        folder = private_dir(tmp_path / "d")
    finally:
        os.umask(previous)
    assert (_mode(tmp_path / "f.csv"), _mode(folder)) == (0o600, 0o700)
