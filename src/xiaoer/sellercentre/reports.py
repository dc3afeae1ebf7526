"""Importing the seller centre's keyed reports (refunds, reviews): what they share.

The packages that store such a report give its shape (columns, row parser), how a
row's key is read without parsing it, and a ``store`` function for a chunk of rows;
:func:`import_report` does the rest as the order import does it: the file is read a
chunk at a time beside the import (a large one parsed in a process of its own, see
:mod:`xiaoer.sellercentre.parsing`), a key met earlier in the file rejects the row,
each chunk is stored in one transaction, the progress is told after each chunk, and
rejected rows are counted, the first few hundred kept as ``file:line: reason``
messages, and all of them written to a rejects file beside the input.

A row's fingerprint (:func:`xiaoer.sellercentre.ingest.row_digest` of its cells)
comes with it, so that ``store`` can leave a row it stored from the same cells
before unparsed: a second import of a file changes nothing and costs little.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.collector import batch_job
from xiaoer.core.db import Database
from xiaoer.core.texts import say
from xiaoer.sellercentre.exports import (
    ExportReader,
    Rejected,
    ReportShape,
    write_rejects,
)
from xiaoer.sellercentre.ingest import (
    CHUNK,
    MAX_MESSAGES,
    Counts,
    Progress,
    refresh_statistics,
    row_digest,
)
from xiaoer.sellercentre.parsing import Opening, Source, open_source
from xiaoer.shops.models import Shop


@dataclass(slots=True)
class RawRow:
    """A row as read: its line, cells, key and fingerprint; parsed only if needed
    (:meth:`ReportRun.parse`), unless it was parsed where it was read."""

    line: int
    cells: list[str]
    key: str
    digest: int
    parsed: object = None


@dataclass
class ReportResult:
    """What an import of a report did: its counts and its rejected rows."""

    counts: Counts = field(default_factory=Counts)
    rejects: list[Path] = field(default_factory=list)
    # "file:line: reason" (a message made by ``say``), the first few hundred.
    messages: list[str] = field(default_factory=list)
    # The reasons of the rows in each rejects file, in the file's order.
    reasons: list[list[str]] = field(default_factory=list)
    # (line, reason) of the first few hundred rejected rows.
    rejected_rows: list[tuple[int, str]] = field(default_factory=list)
    # Tickets the import opened for what it brought in (after-sales reports).
    tickets_opened: int = 0

    def summary(self) -> dict[str, Any]:
        """The counts, as an import job keeps them."""
        return {**self.counts.as_dict(), "tickets_opened": self.tickets_opened}

    def report(self) -> dict[str, Any]:
        """The counts with each rejected row's line and reason and the rejects files,
        as the command line prints them."""
        return {
            **self.summary(),
            "rejected_rows": [
                {"line": line, "reason": str(why)} for line, why in self.rejected_rows
            ],
            "rejects_files": [str(path) for path in self.rejects],
        }


@dataclass
class ReportRun:
    """One import of a report, as its ``store`` function sees it."""

    shop_id: int
    name: str  # the file's name, for messages
    result: ReportResult
    postgres: bool
    rejected: list[Rejected] = field(default_factory=list)
    analyzed: dict[str, int] = field(default_factory=dict)
    # The open reader when the file is read in a thread of the import (None apart).
    reader: ExportReader | None = None

    def parse(self, raw: RawRow) -> object:
        """The row parsed: a report's row, or :class:`Rejected`."""
        if raw.parsed is not None:
            return raw.parsed
        assert self.reader is not None
        return self.reader.parse(raw.line, raw.cells)

    def reject(self, row: Rejected) -> None:
        """Count the row as rejected and keep it for the report and the rejects file."""
        self.rejected.append(row)
        self.result.counts.rejected += 1

    def report_rejected(self) -> None:
        """The rejected rows in the file's order: the first few hundred as messages."""
        self.rejected.sort(key=lambda row: row.line)
        result = self.result
        for row in self.rejected[:MAX_MESSAGES]:
            result.messages.append(
                say("{file}:{line}: {reason}", file=self.name, line=row.line, reason=row.reason)
            )
            result.rejected_rows.append((row.line, row.reason))

    def refuse(self, raw: RawRow, reason: str) -> None:
        """Reject a row read whole, with ``reason``."""
        self.reject(Rejected(raw.line, reason, raw.cells))


# (reader, cells) → the row's key, or "" when it cannot be read (parsing says why).
KeyOf = Callable[[ExportReader, list[str]], str]
# What a chunk leaves to write in a transaction of its own (e.g. a COPY of its new
# rows), while the next chunk is read and parsed.
Later = Callable[[AsyncSession], Awaitable[None]]
# Parses (:meth:`ReportRun.parse`), checks and writes a chunk of rows (every key new in
# this file), in the session given; the caller commits. It may leave a part of the
# writing for later.
Store = Callable[[AsyncSession, ReportRun, list[RawRow]], Awaitable[Later | None]]


@batch_job  # millions of short-lived rows
async def import_report(
    db: Database,
    run: ReportRun,
    reader: Source,
    path: Path,
    *,
    store: Store,
    phase: str,
    tables: str,
    progress: Progress | None = None,
) -> None:
    """Read ``reader``'s rows (:func:`report_entries`) in chunks and give each chunk's
    rows to ``store``; then write the rejects file beside ``path``. What ``store``
    leaves for later runs in a transaction of its own while the next chunk is read, one
    at a time. ``tables``: those ``store`` fills, analysed on PostgreSQL as they grow (see
    :func:`xiaoer.sellercentre.ingest.refresh_statistics`)."""
    counts = run.result.counts
    run.reader = reader.reader
    writing: asyncio.Task[None] | None = None
    try:
        async with contextlib.aclosing(reader.chunks()) as batches:
            async for batch in batches:
                pending: list[RawRow] = []
                for entry in batch:
                    if isinstance(entry, Rejected):
                        run.reject(entry)
                    else:
                        pending.append(entry)
                counts.read += len(batch)
                if pending:
                    async with db.session() as session:
                        later = await store(session, run, pending)
                        await session.commit()
                    if writing is not None:
                        await writing  # one chunk in flight at a time; its error ends the import
                        writing = None
                    if later is not None:
                        writing = asyncio.create_task(_write(db, later))
                    await refresh_statistics(db, run.postgres, run.analyzed, counts.created, tables)
                if progress is not None:
                    progress(phase, reader.bytes_read, reader.bytes_total)
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])  # never leave a write running behind an error
    run.report_rejected()
    if run.rejected:
        run.result.rejects.append(write_rejects(path, reader.header, run.rejected, reader.encoding))
        run.result.reasons.append([row.reason for row in run.rejected])


def report_entries(reader: ExportReader, apart: bool, key_of: KeyOf) -> Iterator[RawRow | Rejected]:
    """A report's rows with their keys and fingerprints, or rejected: unreadable,
    without a key, or with a key met earlier in the file. Read ``apart`` (in a process
    of its own, see :mod:`xiaoer.sellercentre.parsing`) each row is parsed there too."""
    seen: set[str] = set()
    again = say("the same row appears earlier in this file")
    for record in reader.records():
        if isinstance(record, Rejected):
            yield record
            continue
        line, cells = record
        key = key_of(reader, cells)
        if not key:  # parsing says what is wrong with the key
            parsed = reader.parse(line, cells)
            why = parsed.reason if isinstance(parsed, Rejected) else say("the row has no key")
            yield Rejected(line, why, cells)
            continue
        if key in seen:
            yield Rejected(line, again, cells)
            continue
        seen.add(key)
        raw = RawRow(line, cells, key, row_digest(cells))
        if apart:
            raw.parsed = reader.parse(line, cells)  # as the store would (it pads the cells)
        yield raw


async def _write(db: Database, later: Later) -> None:
    async with db.session() as session:
        await later(session)
        await session.commit()


@dataclass(frozen=True)
class ReportKind:
    """How one kind of report is imported: its shape, how a row's key is read, how a
    chunk is stored, its phase in the progress, and the tables it fills."""

    shape: ReportShape
    key_of: KeyOf
    store: Store
    phase: str
    tables: str


async def import_report_file(
    db: Database,
    run: ReportRun,
    path: Path,
    kind: ReportKind,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> None:
    """Open ``path`` as a report of ``kind`` (times in the shop's zone, none more than
    a day after ``now``) and import it with :func:`import_report`. Raises
    :class:`xiaoer.sellercentre.exports.ExportError` when the file
    cannot be read as such a report at all; nothing is written then."""
    async with db.session() as session:
        shop = await session.get(Shop, run.shop_id)
        if shop is None:
            raise ValueError(say("no shop with id {shop_id}", shop_id=run.shop_id))
        zone = shop.timezone
    opening = Opening(path, "report", zone=zone, now=now, shape=kind.shape)
    entries = partial(report_entries, key_of=kind.key_of)
    async with open_source(opening, entries, CHUNK) as reader:
        await import_report(db, run, reader, path, store=kind.store, phase=kind.phase,
                            tables=kind.tables, progress=progress)  # fmt: skip
