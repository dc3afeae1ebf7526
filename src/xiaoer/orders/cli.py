"""``xiaoer notes …``: check seller notes (卖家备注) written in the handbook's format."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

import typer

from xiaoer.orders.notes import SellerNote, parse_note

notes_app = typer.Typer(help="Seller notes.", no_args_is_help=True)


class _ReadError(Exception):
    """Standard input could not be read as UTF-8 text."""


def note_result(text: str) -> dict[str, object]:
    """The JSON object printed for one line: the note, or every field error in it."""
    parsed = parse_note(text)
    if isinstance(parsed, SellerNote):
        return {"ok": True, "note": parsed.to_json()}
    return {"ok": False, "errors": [error.to_json() for error in parsed]}


def _lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of ``stream`` decoded as UTF-8, without line ends; a byte-order mark
    opening the first line is dropped. Raises _ReadError when reading or decoding fails."""
    number = 0
    while True:
        try:
            raw = stream.readline()
        except OSError as exc:
            raise _ReadError(f"cannot read standard input: {exc.strerror or exc}") from exc
        if not raw:
            return
        number += 1
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _ReadError(f"line {number} of standard input is not UTF-8 text") from exc
        yield text.rstrip("\r\n")


def _emit(result: dict[str, object]) -> None:
    """Write one JSON line as UTF-8, whatever the locale, and flush it at once so a
    program reading the other end of a pipe gets each answer as soon as it is ready."""
    out = sys.stdout.buffer
    out.write((json.dumps(result, ensure_ascii=False) + "\n").encode("utf-8"))
    out.flush()


@notes_app.command("parse")
def parse_command() -> None:
    """Read one seller note per line on stdin; print one JSON object per line.

    Each line gives {"ok": true, "note": {...}} or {"ok": false, "errors":
    [{"field": ..., "message": ...}]}, in input order. This is a filter: the exit
    code is 0 even when notes are wrong, and 2 when stdin cannot be read as UTF-8.
    """
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:
        typer.echo("error: there is no standard input to read", err=True)
        raise typer.Exit(2)
    try:
        for text in _lines(stdin):
            _emit(note_result(text))
    except _ReadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly as filters do, pointing
        # stdout at the null device so the final flush at exit cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
