"""The buyer-facing application, mounted at ``/b``.

It is a separate ASGI app with no staff session middleware: a staff cookie is
never even decoded here. Its routes (this module and
:mod:`xiaoer.reception.buyer_api`) import no staff or order module and show
buyers only buyer-safe projections, authenticated by the buyer's signed token.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel

from xiaoer.core.db import Database
from xiaoer.http.api_errors import install_api_errors
from xiaoer.http.limits import BodyLimit
from xiaoer.reception import bridge_api, buyer_api, storefront
from xiaoer.shops.service import shop_by_code
from xiaoer.web.middleware import SecurityHeaders


class PublicShop(BaseModel):
    code: str
    name: str
    default_courier: str


def create_buyer_app(db: Database, secret_key: str, token_max_age: timedelta) -> FastAPI:
    app = FastAPI(title="xiaoer buyer API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = db
    app.state.secret_key = secret_key
    app.state.buyer_token_max_age = token_max_age
    app.add_middleware(BodyLimit, max_bytes=buyer_api.MAX_BODY_BYTES)
    # The storefront is a page like the staff pages and gets their policy: its own
    # script (widget.js), style sheets and sockets, all from this site, nothing inline.
    # widget.js and widget.css are embedded by shops' own sites, so they say
    # ``Cross-Origin-Resource-Policy: cross-origin`` (a site isolating itself with
    # COEP may still load them); a policy on a script or a style sheet does not bind
    # the page that loads it, so theirs, like the JSON answers', allows nothing.
    app.add_middleware(SecurityHeaders, extra={"Cross-Origin-Resource-Policy": "cross-origin"})
    # The widget runs on the shop's own site: any origin may call, without cookies
    # (a buyer is known by the token it sends, never by a cookie).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization"],
    )

    @app.get("/shops/{code}", response_model=PublicShop)
    async def public_shop(code: str, request: Request) -> PublicShop:
        database: Database = request.app.state.db
        async with database.session() as session:
            shop = await shop_by_code(session, code)
        if shop is None:
            raise HTTPException(status_code=404, detail=f"no shop {code!r}")
        return PublicShop(code=shop.code, name=shop.name, default_courier=shop.default_courier)

    install_api_errors(app)
    app.include_router(bridge_api.router)
    app.include_router(storefront.router)
    app.include_router(buyer_api.router)
    return app
