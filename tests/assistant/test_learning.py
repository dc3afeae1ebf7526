"""What agents accept becomes the shop's own classifier; what they reject does not."""

from sqlalchemy import select

from tests.test_cli import xiaoer
from xiaoer.assistant.classifier import default_classifier, shipped_examples
from xiaoer.assistant.learning import accepted_examples, classifier_for, do_retrain
from xiaoer.assistant.models import ShopClassifier, SuggestionFeedback
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop

ASKED = "下单送挂钩吗"  # the shipped model is unsure about it


async def _feedback(db: Database, shop: Shop, *rows: tuple[str, str, str | None, str]) -> None:
    async with db.session() as session:
        for text, intent, kind, action in rows:
            session.add(
                SuggestionFeedback(
                    shop_id=shop.id,
                    buyer_text=text,
                    intent=intent,
                    bargain_type=kind,
                    action=action,
                )
            )
        await session.commit()


async def test_retraining_learns_what_agents_confirmed(db: Database, shop: Shop) -> None:
    assert default_classifier().classify(ASKED).intent != "promotion"
    await _feedback(
        db,
        shop,
        (ASKED, "promotion", None, "picked"),
        ("买窗帘送不送挂钩", "promotion", None, "edited"),
        ("别家才卖八十", "bargain", "compare", "picked"),
        ("随便问问", "greeting", None, "rejected"),
    )
    async with db.session() as session:
        learned = await accepted_examples(session, shop.id)
        assert sorted(e.text for e in learned) == sorted(
            [ASKED, "买窗帘送不送挂钩", "别家才卖八十"]
        )
        assert (await classifier_for(session, shop.id)) is default_classifier()
        result = await do_retrain(session, shop.id)
        await session.commit()
        assert (result.learned, result.new) == (3, 3)
        model = await classifier_for(session, shop.id)
        assert model.classify(ASKED).intent == "promotion"
        flags = list(
            await session.scalars(
                select(SuggestionFeedback.learned).order_by(SuggestionFeedback.id)
            )
        )
    assert flags == [True, True, True, False]  # the rejected one taught nothing


async def test_another_shop_keeps_the_shipped_model(db: Database, shop: Shop) -> None:
    await _feedback(db, shop, (ASKED, "promotion", None, "picked"))
    async with db.session() as session:
        await do_retrain(session, shop.id)
        await session.commit()
        assert await classifier_for(session, shop.id + 1) is default_classifier()


def test_retrain_runs_from_the_command_line(database_url: str, shop: Shop) -> None:
    run = xiaoer(database_url, "assistant", "retrain", "--shop", "tea")
    assert run.returncode == 0, run.stderr
    shipped = len(shipped_examples())
    assert run.stdout.startswith(f"tea: trained on {shipped} examples (0 from agents")
    missing = xiaoer(database_url, "assistant", "retrain", "--shop", "nope")
    assert missing.returncode == 2 and "no shop 'nope'" in missing.stderr


async def test_the_stored_model_is_plain_json(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        await do_retrain(session, shop.id)
        await session.commit()
        row = await session.get(ShopClassifier, shop.id)
    assert row is not None and row.model["format"].startswith("xiaoer.assistant.classifier/")
