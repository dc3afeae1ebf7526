"""A small demo storefront of a shop and the embeddable chat widget (buyer app, ``/b``).

Buyer-facing: no staff session, no staff, order or customer data. The widget is one
script tag (``<script src="/b/widget.js" data-shop="CODE" async></script>``) that
talks to :mod:`xiaoer.reception.buyer_api`; its texts are put into the script here
from the message catalogues, so the file in ``reception/static`` carries none of its own.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from xiaoer.catalog.models import Product
from xiaoer.core.db import Database
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.texts import say
from xiaoer.http.i18n import LANGUAGES, Translator, catalogue
from xiaoer.http.render import error_text
from xiaoer.shops.service import shop_by_code

router = APIRouter()

_HERE = resources.files("xiaoer.reception")
_templates = Jinja2Templates(directory=str(_HERE / "templates"))
TEXTS_MARKER = "/*@widget-texts@*/{}"
STORE_PRODUCTS = 8


@cache
def widget_texts() -> str:
    """The widget's texts in every language, as a JavaScript object literal."""
    texts = {
        language: {
            key.removeprefix("widget."): value
            for key, value in catalogue(language).items()
            if key.startswith("widget.")
        }
        for language in LANGUAGES
    }
    return json.dumps(texts, ensure_ascii=True, sort_keys=True)


# Loaded by shops' own pages on other sites: cacheable, and loadable from any origin.
ASSET_HEADERS = {"Cache-Control": "public, max-age=300"}


@router.get("/widget.js")
async def widget_script() -> Response:
    source = (_HERE / "static" / "widget.js").read_text("utf-8")
    return Response(
        source.replace(TEXTS_MARKER, widget_texts(), 1),
        media_type="text/javascript; charset=utf-8",
        headers=ASSET_HEADERS,
    )


@router.get("/widget.css")
async def widget_style() -> Response:
    return _style("widget.css")


@router.get("/storefront.css")
async def storefront_style() -> Response:
    return _style("storefront.css")


def _style(name: str) -> Response:
    source = (_HERE / "static" / name).read_text("utf-8")
    return Response(source, media_type="text/css; charset=utf-8", headers=ASSET_HEADERS)


@router.get("/{shop_code}/store", response_class=HTMLResponse)
async def storefront(shop_code: str, request: Request) -> Response:
    """The shop's name, a few of its products and the chat widget."""
    db: Database = request.app.state.db
    async with db.session() as session:
        shop = await shop_by_code(session, shop_code)
        if shop is None:
            raise HTTPException(404, error_text(request, say("no shop {code!r}", code=shop_code)))
        products = list(
            await session.scalars(
                select(Product)
                .where(Product.shop_id == shop.id, Product.active.is_(True))
                .order_by(Product.id)
                .limit(STORE_PRODUCTS)
            )
        )
    return _templates.TemplateResponse(
        request,
        "reception/storefront.html",
        {
            "t": Translator("zh"),
            "shop": {"code": shop.code, "name": shop.name, "courier": shop.default_courier},
            "products": [
                {"title": p.title, "category": p.category, "price": fen_to_yuan(p.price_fen)}
                for p in products
            ],
            "root": request.scope.get("root_path", ""),
        },
    )
