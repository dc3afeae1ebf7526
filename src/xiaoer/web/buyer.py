"""The buyer-facing application, mounted at ``/b``.

It is a separate ASGI app with no staff session middleware: a staff cookie is
never even decoded here, and nothing in this module imports staff, order or
customer data. Later the chat widget's endpoints live here, authenticated by
the buyer's own signed token.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from xiaoer.core.db import Database
from xiaoer.shops.service import shop_by_code


class PublicShop(BaseModel):
    code: str
    name: str
    default_courier: str


def create_buyer_app(db: Database) -> FastAPI:
    app = FastAPI(title="xiaoer buyer API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = db

    @app.get("/shops/{code}", response_model=PublicShop)
    async def public_shop(code: str, request: Request) -> PublicShop:
        database: Database = request.app.state.db
        async with database.session() as session:
            shop = await shop_by_code(session, code)
        if shop is None:
            raise HTTPException(status_code=404, detail=f"no shop {code!r}")
        return PublicShop(code=shop.code, name=shop.name, default_courier=shop.default_courier)

    return app
