"""Excel workbooks in and out (openpyxl): headers matched by name, rows with line numbers."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException


class SheetError(ValueError):
    """The file as a whole cannot be read; rows are judged one by one elsewhere."""


def read_rows(
    data: bytes, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row of the first sheet as (line number, {header: text}).

    Headers are matched by name, ignoring surrounding spaces; other columns are
    ignored; a missing required header fails the whole file with its name.
    """
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SheetError("not an Excel workbook (.xlsx)") from exc
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header_row = next(rows, None)
    if header_row is None:
        raise SheetError("the sheet is empty")
    headers = [str(h).strip() if h is not None else "" for h in header_row]
    missing = [h for h in required if h not in headers]
    if missing:
        raise SheetError(f"missing column {missing[0]!r} (the first row names the columns)")
    wanted = {h: headers.index(h) for h in (*required, *optional) if h in headers}
    for line, values in enumerate(rows, start=2):
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        yield line, {h: _text(values[i]) if i < len(values) else "" for h, i in wanted.items()}
    book.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def write_sheet(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A one-sheet workbook with a bold header row."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    for index, header in enumerate(headers, start=1):
        width = max([len(str(header)) * 2, *(len(str(r[index - 1])) for r in rows[:200])])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, width + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class ImportReport:
    """What an import did: rows read, created, updated, unchanged, and each row refused
    with its line number and reason."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }
