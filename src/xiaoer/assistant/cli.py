"""``xiaoer assistant …``: classify buyer messages and measure the classifier."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from xiaoer.assistant.baseline import KeywordBaseline
from xiaoer.assistant.classifier import Classification, default_classifier, load_examples
from xiaoer.assistant.evaluate import Evaluation, evaluate

assistant_app = typer.Typer(
    help="The assistant: what buyers ask, and how well it is recognised.", no_args_is_help=True
)


def classification_line(result: Classification) -> str:
    """``intent<TAB>bargain_type<TAB>confidence``; ``-`` as the type of a non-bargain."""
    return f"{result.intent}\t{result.bargain_type or '-'}\t{result.confidence:.3f}"


@assistant_app.command("classify")
def classify() -> None:
    """Read one buyer message per line on stdin; print one classification per line."""
    model = default_classifier()
    for number, line in enumerate(sys.stdin, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            typer.echo(f"line {number}: an empty message has no intent", err=True)
            typer.echo("other\t-\t0.000")  # one line out per line in, so outputs stay aligned
            continue
        typer.echo(classification_line(model.classify(text)))


def _report(name: str, result: Evaluation) -> None:
    typer.echo(f"{name}: {result.summary()}")


@assistant_app.command("eval")
def eval_command(
    file: Path,
    split: Annotated[
        str | None, typer.Option(help="Only the rows of this split, e.g. test.")
    ] = None,
    table: Annotated[bool, typer.Option(help="Print the confusion table.")] = True,
) -> None:
    """Accuracy, macro-F1 and bargain-type accuracy on a labelled TSV file, with the
    confusion table, and the same figures for a plain keyword baseline."""
    try:
        examples = load_examples(file, split)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not examples:
        raise typer.BadParameter(
            f"{file} has no examples" + (f" in split {split!r}" if split else "")
        )
    model = evaluate(default_classifier(), examples)
    baseline = evaluate(KeywordBaseline(), examples)
    _report("model", model)
    _report("keyword baseline", baseline)
    if table:
        typer.echo("\nconfusion (rows: labelled, columns: predicted)")
        typer.echo(model.confusion_table())
        mistakes = model.confusions()[:10]
        if mistakes:
            typer.echo("\nmost frequent mistakes")
            for gold, predicted, n in mistakes:
                typer.echo(f"  {gold} → {predicted}: {n}")


@assistant_app.command("retrain")
def retrain(
    shop: Annotated[
        str | None, typer.Option(help="The shop's code; every shop when left out.")
    ] = None,
) -> None:
    """Fold the suggestions agents accepted into each shop's classifier and store it."""
    from xiaoer.assistant.learning import do_retrain
    from xiaoer.core.cli_database import DatabaseNotReady, check_ready, command_settings
    from xiaoer.core.db import Database
    from xiaoer.shops.service import list_shops, shop_by_code

    try:
        settings = command_settings()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    async def work() -> list[str]:
        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        lines = []
        try:
            async with db.session() as session:
                if shop is None:
                    shops = await list_shops(session)
                else:
                    one = await shop_by_code(session, shop)
                    if one is None:
                        raise typer.BadParameter(f"no shop {shop!r}")
                    shops = [one]
                for item in shops:
                    result = await do_retrain(session, item.id)
                    await session.commit()
                    lines.append(
                        f"{item.code}: trained on {result.examples} examples "
                        f"({result.learned} from agents, {result.new} new since the last time)"
                    )
        finally:
            await db.dispose()
        return lines

    try:
        lines = asyncio.run(work())
    except DatabaseNotReady as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in lines:
        typer.echo(line)
