"""The description of the HTTP API, for signed-in staff only.

It names every route and what it takes, which is a map for an attacker as much as
for a developer, so it is not public. The page is drawn here from the OpenAPI
schema, without the usual interactive viewers: those load scripts from a CDN and
run inline ones, which the pages' Content-Security-Policy does not allow.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from xiaoer.http.deps import AnyStaff
from xiaoer.http.render import render

router = APIRouter()

METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/openapi.json", include_in_schema=False)
async def openapi_schema(request: Request, staff: AnyStaff) -> Response:
    return JSONResponse(request.app.openapi())


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
async def api_docs_page(request: Request, staff: AnyStaff) -> Response:
    schema: dict[str, Any] = request.app.openapi()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation.get("summary", ""),
            "description": operation.get("description", ""),
            "parameters": [p["name"] for p in operation.get("parameters", [])],
            "body": "requestBody" in operation,
        }
        for path, item in sorted(schema.get("paths", {}).items())
        for method, operation in item.items()
        if method in METHODS
    ]
    context = {"operations": operations, "version": schema.get("info", {}).get("version", "")}
    return render(request, "api_docs.html", context, staff=staff)
