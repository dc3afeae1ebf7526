"""A shop's knowledge base and the answers it suggests for a buyer's message (A1–A4).

A shop starts with the default entries shipped in ``default-knowledge.toml``; once a
manager saves entries of their own, those are the shop's knowledge base. A
suggestion is an entry of the message's intent (and, for bargaining, of its type),
its template filled from live data: the shop, the agent, current activities, the
courier, the dispatch cut-off, and the product the buyer asks about with its stock;
when that product is sold out, items of its category that are in stock (A3), and
items that go with it (A4).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from xiaoer.assistant.classifier import BARGAIN, Classification
from xiaoer.assistant.learning import classifier_for
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.assistant.normalize import normalize
from xiaoer.assistant.sizes import advise, parse_body
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Product
from xiaoer.core.clock import utcnow
from xiaoer.core.dispatch import ships_today
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.reception.access import conversation_for
from xiaoer.reception.autoreply import current_activities
from xiaoer.reception.models import Conversation, Message, Sender
from xiaoer.reception.phrases import fill
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

MAX_SUGGESTIONS = 3
MAX_ITEMS = 3


@dataclass(frozen=True)
class Entry:
    intent: str
    title: str
    answer: str
    questions: tuple[str, ...] = ()
    bargain_type: str | None = None
    id: int | None = None  # None for a default entry not yet stored by the shop


@dataclass(frozen=True)
class ProductFacts:
    """The product a message is about, as the suggestions speak of it."""

    id: int
    title: str
    category: str
    price_fen: int
    stock: int  # what may be sold: each SKU's stock less the policy's safety stock
    size_chart: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Suggestion:
    text: str
    title: str
    entry_id: int | None
    intent: str
    bargain_type: str | None
    score: float


@dataclass
class Suggestions:
    """What the assistant makes of a buyer's message, for the workbench."""

    classification: Classification
    suggestions: list[Suggestion]
    product: ProductFacts | None = None
    similar: list[ProductFacts] = field(default_factory=list)
    related: list[ProductFacts] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.classification
        return {
            "intent": c.intent,
            "confidence": round(c.confidence, 4),
            "bargain_type": c.bargain_type,
            "suggestions": [
                {
                    "text": s.text,
                    "title": s.title,
                    "entry_id": s.entry_id,
                    "intent": s.intent,
                    "bargain_type": s.bargain_type,
                }
                for s in self.suggestions
            ],
            "product": _product_json(self.product) if self.product else None,
            "similar": [_product_json(p) for p in self.similar],
            "related": [_product_json(p) for p in self.related],
        }


def _product_json(p: ProductFacts) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "price": fen_to_yuan(p.price_fen), "stock": p.stock}


@cache
def _defaults() -> tuple[tuple[Entry, ...], dict[str, tuple[str, ...]]]:
    text = resources.files("xiaoer.assistant").joinpath("default-knowledge.toml").read_text("utf-8")
    data = tomllib.loads(text)
    entries = tuple(
        Entry(
            intent=item["intent"],
            title=item["title"],
            answer=item["answer"],
            questions=tuple(item.get("questions", ())),
            bargain_type=item.get("bargain_type"),
        )
        for item in data["entry"]
    )
    related = {k: tuple(v) for k, v in data.get("related", {}).items()}
    return entries, related


def default_entries() -> tuple[Entry, ...]:
    return _defaults()[0]


async def entries_for(session: AsyncSession, shop_id: int) -> list[Entry]:
    """The shop's active entries, or the defaults while it has stored none."""
    rows = list(
        await session.scalars(
            select(KnowledgeEntry)
            .where(KnowledgeEntry.shop_id == shop_id)
            .order_by(KnowledgeEntry.position, KnowledgeEntry.id)
        )
    )
    if not rows:
        return list(default_entries())
    return [
        Entry(r.intent, r.title, r.answer, tuple(r.questions), r.bargain_type, r.id)
        for r in rows
        if r.active
    ]


async def _products(session: AsyncSession, shop_id: int, safety_stock: int) -> list[ProductFacts]:
    rows = await session.scalars(
        select(Product)
        .where(Product.shop_id == shop_id, Product.active.is_(True))
        .options(selectinload(Product.skus))
        .order_by(Product.id)
    )
    return [
        ProductFacts(
            p.id,
            p.title,
            p.category,
            min((s.price_fen for s in p.skus), default=p.price_fen),
            sum(max(0, s.stock - safety_stock) for s in p.skus),
            tuple(p.size_chart or ()),
        )
        for p in rows
    ]


def mentioned(products: list[ProductFacts], text: str) -> ProductFacts | None:
    """The product whose title shares the longest run of characters with the (normalised)
    message, at least two; on a tie the earlier product.

    A run of two or more is a shared pair of neighbouring characters, so only the
    products whose titles hold one of the message's pairs are compared in full; two
    different characters must be shared, so a repeated one ("99") names no product.
    """
    titles = tuple(product.title for product in products)
    index = _pair_index(titles)
    candidates = sorted({k for pair in _pairs(text) for k in index.get(pair, ())})
    chars = set(text)
    best: tuple[int, ProductFacts] | None = None
    for k in candidates:
        title, title_chars = _title(titles[k])
        if len(title_chars & chars) < 2:
            continue  # one character repeated ("99") names no product
        longest = _longest_common_run(title, text)
        if longest >= 2 and (best is None or longest > best[0]):
            best = (longest, products[k])
    return best[1] if best else None


def _pairs(text: str) -> set[str]:
    """Neighbouring characters, neither of them white space."""
    return {
        text[i : i + 2]
        for i in range(len(text) - 1)
        if not text[i].isspace() and not text[i + 1].isspace()
    }


@lru_cache(maxsize=16)
def _pair_index(titles: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """For each pair of characters, the positions of the titles that hold it."""
    index: dict[str, list[int]] = {}
    for k, title in enumerate(titles):
        for pair in _pairs(_title(title)[0]):
            index.setdefault(pair, []).append(k)
    return {pair: tuple(ks) for pair, ks in index.items()}


@lru_cache(maxsize=8192)
def _title(title: str) -> tuple[str, frozenset[str]]:
    normalised = normalize(title)
    return normalised, frozenset(c for c in normalised if not c.isspace())


def _longest_common_run(a: str, b: str) -> int:
    longest = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y and not x.isspace():
                current[j] = previous[j - 1] + 1
                longest = max(longest, current[j])
        previous = current
    return longest


def _similar(products: list[ProductFacts], product: ProductFacts) -> list[ProductFacts]:
    """In-stock items of the same category, nearest in price first (A3)."""
    same = [p for p in products if p.category == product.category and p.id != product.id]
    in_stock = [p for p in same if p.stock > 0]
    return sorted(in_stock, key=lambda p: (abs(p.price_fen - product.price_fen), p.id))[:MAX_ITEMS]


def _related(products: list[ProductFacts], product: ProductFacts) -> list[ProductFacts]:
    """In-stock items of the categories that go with the product's (A4)."""
    categories = _defaults()[1].get(product.category, ())
    chosen: list[ProductFacts] = []
    for category in categories:
        match = next((p for p in products if p.category == category and p.stock > 0), None)
        if match is not None:
            chosen.append(match)
    return chosen[:MAX_ITEMS]


def _names(items: list[ProductFacts]) -> str:
    return "、".join(f"{p.title}（{fen_to_yuan(p.price_fen)}元）" for p in items)


def ship_day_said(policy: Policy, shop: Shop, moment: datetime) -> str:
    """When a payment now leaves, in the buyer's words: 今天 before the cut-off on the
    shop's clock, 明天 from it on (F6)."""
    zone = ZoneInfo(shop.timezone)
    return "今天" if ships_today(policy.fulfilment.cutoff_time, zone, moment) else "明天"


def courier_change_said(policy: Policy) -> str:
    """Whether a buyer may ask for another courier, and on what terms (F6)."""
    if policy.fulfilment.courier_change_allowed:
        return "如需换其他快递，补上运费差价就可以为您更换（换成更便宜的快递不退差价哦）"
    return "暂时不能指定其他快递，还请您谅解"


async def suggest(
    session: AsyncSession,
    *,
    shop: Shop,
    policy: Policy,
    text: str,
    agent_name: str = "",
    buyer: str = "",
    now: datetime | None = None,
) -> Suggestions:
    """The intent of a buyer's message and the best answers, filled, best first."""
    moment = now or utcnow()
    classification = (await classifier_for(session, shop.id)).classify(text)
    body = parse_body(text)
    if body.height_cm is not None and body.weight_kg is not None:
        # Height and weight together are a size question, whatever else the words say.
        classification = Classification("size_advice", max(classification.confidence, 0.9))
    products = await _products(session, shop.id, policy.fulfilment.safety_stock)
    product = mentioned(products, normalize(text))
    size = advise(product.size_chart, body) if product else None
    similar = _similar(products, product) if product else []
    related = _related(products, product) if product else []
    activities = await current_activities(session, shop.id, moment)
    values = {
        "shop": shop.name,
        "agent": agent_name or "客服",
        "buyer": buyer,
        "activity": "；".join(activities) if activities else "店铺的日常优惠",
        "courier": shop.default_courier or "快递",
        "cutoff": policy.fulfilment.cutoff_time,
        "ship_day": ship_day_said(policy, shop, moment),
        "courier_change": courier_change_said(policy),
        "product": product.title if product else "这款商品",
        "price": f"{fen_to_yuan(product.price_fen)}元" if product else "以页面为准",
        "stock": str(product.stock) if product else "",
        "similar": _names(similar) or "店里同类的其他款",
        "related": _names(related) or "店里的搭配款",
        "size": size or "",
        "height": f"身高{body.height_cm}厘米" if body.height_cm else "",
        "weight": f"体重{body.weight_kg:g}公斤" if body.weight_kg else "",
    }
    entries = await entries_for(session, shop.id)
    chosen = choose(entries, classification, product, values, sized=size is not None)
    return Suggestions(classification, chosen, product, similar, related)


def choose(
    entries: list[Entry],
    classification: Classification,
    product: ProductFacts | None,
    values: dict[str, str],
    *,
    sized: bool = False,
) -> list[Suggestion]:
    """The best entries for a classified message, filled, best first. ``sized``: a size
    was worked out from the buyer's measurements."""
    ranked = sorted(
        (
            (score, index, entry)
            for index, entry in enumerate(entries)
            if (score := _score(entry, classification, product, sized)) > 0
        ),
        key=lambda t: (-t[0], t[1]),
    )
    return [
        Suggestion(
            fill(entry.answer, values),
            entry.title,
            entry.id,
            entry.intent,
            entry.bargain_type,
            score,
        )
        for score, _, entry in ranked[:MAX_SUGGESTIONS]
    ]


def _score(
    entry: Entry, c: Classification, product: ProductFacts | None, sized: bool = False
) -> float:
    """How well an entry answers: its intent, for bargaining its type; for stock, the
    entry that fits whether the product is in stock."""
    if entry.intent != c.intent:
        return 0.0
    score = 1.0
    if c.intent == BARGAIN:
        score += 1.0 if entry.bargain_type == c.bargain_type else -0.5
    uses = {v for v in ("{stock}", "{similar}", "{related}") if v in entry.answer}
    if c.intent == "stock" and product is not None:
        if product.stock > 0:
            score += 0.5 if "{stock}" in uses else (0.2 if "{related}" in uses else 0.0)
        else:
            score += 0.5 if "{similar}" in uses else -0.6
    if c.intent == "size_advice" and "{size}" in entry.answer:
        score += 0.5 if sized else -0.6
    return score


async def latest_buyer_text(session: AsyncSession, conversation_id: int) -> str | None:
    return await session.scalar(
        select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.sender == Sender.buyer.value)
        .order_by(Message.id.desc())
        .limit(1)
    )


async def suggest_for_conversation(
    session: AsyncSession,
    conversation: Conversation,
    *,
    text: str | None = None,
    agent_name: str = "",
    now: datetime | None = None,
) -> tuple[str, Suggestions] | None:
    """Suggestions for ``text``, or for the conversation's latest buyer message; ``None``
    when the buyer has written nothing yet."""
    text = text if text is not None else await latest_buyer_text(session, conversation.id)
    shop = await session.get(Shop, conversation.shop_id)
    if text is None or shop is None:
        return None
    moment = now or utcnow()
    customer = await session.get(Customer, conversation.customer_id)
    found = await suggest(
        session,
        shop=shop,
        policy=await policy_on(session, shop.id, moment.date()),
        text=text,
        agent_name=agent_name,
        buyer=customer.nick if customer else "",
        now=moment,
    )
    return text, found


async def suggestions_for(
    session: AsyncSession,
    staff: StaffAccount,
    conversation_id: int,
    *,
    text: str | None = None,
    now: datetime | None = None,
) -> tuple[str, Suggestions] | None:
    """Suggestions for a staff member, in a conversation they may read (the buyer's
    latest message is in them): refused for another agent's or another team's."""
    conversation = await conversation_for(session, staff, conversation_id)
    return await suggest_for_conversation(
        session, conversation, text=text, agent_name=staff.name, now=now
    )
