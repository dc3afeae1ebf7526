"""An export's rows read and parsed beside the import: in a process of their own for a
large file, in a worker thread for a small one.

Reading a CSV and parsing its cells is Python's work, and in the importing process it
holds the interpreter's lock: the event loop (the import's round trips to the database,
and in the web process every page and chat message) waits on it. A file of
:data:`APART_BYTES` or more is therefore opened, read and parsed by a child process,
which sends the rows back a chunk at a time through a pipe; the import only unpickles
them. A smaller file costs less to parse than a process costs to start, so it is read
in a worker thread (:func:`xiaoer.sellercentre.ingest.read_chunks`).

Both ways run the same function over the open reader (an :data:`Entries`), told
which way it runs: rows sent from a process are best parsed there, while in a thread
the import may parse only those it needs. What it yields apart must pickle, and
cheaply: tuples of numbers, texts and times are rebuilt in C, where a dataclass costs
a Python call per row (for a million orders, seconds on both sides).

The child runs ahead of the import by a chunk or two and no more: it waits while the
pipe is full. A whole-file error (:class:`~xiaoer.sellercentre.exports.ExportError`)
comes back in the stream and is raised where the thread would have raised it: at
opening, or after the chunks read before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import resource
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from xiaoer.core.clock import DEFAULT_ZONE
from xiaoer.core.texts import say
from xiaoer.sellercentre.exports import ExportError, ExportReader, Kind, ReportShape

# Files this large or larger are parsed in a process of their own.
APART_BYTES = 4 * 1024 * 1024

# What runs over the open reader, told whether it runs apart (in a process of its own):
# its rows, or anything made of them, in the file's order.
Entries = Callable[[ExportReader, bool], Iterable[Any]]

# The child processes come from a server process forked once, with the reading modules
# loaded: starting one costs a fork, not an interpreter, and nothing of the importing
# process (its threads, its connections) is copied into it.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["xiaoer.sellercentre.parsing", "xiaoer.sellercentre.ingest"])


@dataclass(frozen=True)
class Opening:
    """How to open the file, given to the child process (so it must pickle)."""

    path: Path
    kind: Kind
    zone: str = DEFAULT_ZONE
    now: datetime | None = None
    shape: ReportShape | None = None

    def open(self) -> ExportReader:
        return ExportReader(self.path, self.kind, zone=self.zone, now=self.now, report=self.shape)


class Source:
    """An export being read: its header and encoding (for the rejects file), its size
    and how far reading has got (for the progress), and its entries in chunks."""

    header: list[str]
    encoding: str
    bytes_total: int
    # The open reader when the file is read in a thread of the import (None apart).
    reader: ExportReader | None = None
    # A parsing process's CPU seconds and peak resident memory in MB, once it has ended.
    usage: tuple[float, float] | None = None

    @property
    def bytes_read(self) -> int:
        raise NotImplementedError

    def chunks(self) -> AsyncGenerator[list[Any], None]:
        raise NotImplementedError


@contextlib.asynccontextmanager
async def open_source(
    opening: Opening, entries: Entries, size: int, *, apart: bool | None = None
) -> AsyncIterator[Source]:
    """Open the file ``opening`` names and read ``entries`` of it ``size`` at a time,
    in a process of its own when ``apart`` (by default: when the file is at least
    :data:`APART_BYTES`). Raises :class:`ExportError` when the file cannot be opened
    as such an export; leaving the block stops the reading."""
    if apart is None:
        try:
            apart = opening.path.stat().st_size >= APART_BYTES
        except OSError:
            apart = False  # opening it says what is wrong
    if not apart:
        with await asyncio.to_thread(opening.open) as reader:
            yield _InThread(reader, entries, size)
        return
    source = _Apart(opening, entries, size)
    try:
        await source.start()
        yield source
    finally:
        await source.stop()


class _InThread(Source):
    def __init__(self, reader: ExportReader, entries: Entries, size: int) -> None:
        self.reader = reader
        self._entries = entries
        self._size = size
        self.header = reader.header
        self.encoding = reader.encoding
        self.bytes_total = reader.bytes_total

    @property
    def bytes_read(self) -> int:
        return self.reader.bytes_read if self.reader is not None else 0

    async def chunks(self) -> AsyncGenerator[list[Any], None]:
        from xiaoer.sellercentre.ingest import read_chunks

        assert self.reader is not None
        async with contextlib.aclosing(
            read_chunks(self._entries(self.reader, False), self._size)
        ) as reading:
            async for batch in reading:
                yield batch


class _Apart(Source):
    def __init__(self, opening: Opening, entries: Entries, size: int) -> None:
        self._opening = opening
        self._entries = entries
        self._size = size
        self._process: Any = None
        self._pipe: Connection | None = None
        self._read = 0

    @property
    def bytes_read(self) -> int:
        return self._read

    async def start(self) -> None:
        receiving, sending = _CONTEXT.Pipe(duplex=False)
        self._pipe = receiving
        self._process = _CONTEXT.Process(
            target=_parse,
            args=(sending, self._opening, self._entries, self._size),
            name=f"xiaoer-parse {self._opening.path.name}",
            daemon=True,
        )
        try:
            await asyncio.to_thread(self._process.start)
        finally:
            sending.close()  # the child's end: the pipe ends when the child does
        kind, *rest = await self._receive()
        if kind != "open":
            raise _unexpected(self._opening.path, kind)
        self.header, self.encoding, self.bytes_total = rest

    async def _receive(self) -> tuple[Any, ...]:
        pipe = self._pipe
        assert pipe is not None
        try:
            message: tuple[Any, ...] = await asyncio.to_thread(pipe.recv)
        except EOFError:
            await asyncio.to_thread(self._process.join, 10)  # for its exit code
            raise _stopped(self._opening.path, self._process) from None
        if message[0] == "error":
            raise message[1]
        return message

    async def chunks(self) -> AsyncGenerator[list[Any], None]:
        ahead = asyncio.ensure_future(self._receive())
        try:
            while True:
                kind, *rest = await ahead
                if kind == "end":
                    self._read = self.bytes_total
                    self.usage = (rest[0], rest[1] / 1024)
                    return
                if kind != "rows":
                    raise _unexpected(self._opening.path, kind)
                batch, self._read = rest
                ahead = asyncio.ensure_future(self._receive())
                yield batch
        finally:
            if not ahead.done():
                ahead.cancel()
                await asyncio.wait([ahead])
            if not ahead.cancelled():
                ahead.exception()  # an error after the chunks asked for is not told

    async def stop(self) -> None:
        """End the child: at once unless it has ended already."""
        process = self._process
        if process is not None and process.pid is not None:
            if process.is_alive():
                process.terminate()
            await asyncio.to_thread(process.join)
            process.close()
        if self._pipe is not None:
            self._pipe.close()


def _parse(pipe: Connection, opening: Opening, entries: Entries, size: int) -> None:
    """The child: open the file, send its header, then its entries ``size`` at a time."""
    try:
        with opening.open() as reader:
            pipe.send(("open", reader.header, reader.encoding, reader.bytes_total))
            rows = iter(entries(reader, True))
            while batch := list(itertools.islice(rows, size)):
                pipe.send(("rows", batch, reader.bytes_read))
            used = resource.getrusage(resource.RUSAGE_SELF)
            pipe.send(("end", used.ru_utime + used.ru_stime, used.ru_maxrss))
    except (BrokenPipeError, KeyboardInterrupt):
        return  # the import stopped reading
    except Exception as exc:  # sent back and raised there, as a thread's error would be
        try:
            pipe.send(("error", exc))
        except Exception:  # an error that does not pickle goes as its text
            pipe.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        pipe.close()


def _stopped(path: Path, process: Any) -> ExportError:
    code = None if process is None else process.exitcode
    return ExportError(
        say("the process reading {file} stopped (exit code {code})", file=path.name, code=code)
    )


def _unexpected(path: Path, kind: object) -> ExportError:
    return ExportError(say("the process reading {file} sent {kind!r}", file=path.name, kind=kind))
