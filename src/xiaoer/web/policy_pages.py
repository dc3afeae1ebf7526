"""The shop policy in the browser: read it, change a section, see who changed what.

A change goes form → preview (old → new, per setting, and the day it takes effect) →
save, which makes a new policy version through :func:`xiaoer.staff.policy.do_change_policy`
(the same :func:`~xiaoer.core.policy_store.do_apply_policy` as ``xiaoer policy apply``).
A save whose values differ from the ones previewed shows the preview again instead.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import local
from xiaoer.core.errors import NotFound
from xiaoer.core.policy import Policy, default_policy, policy_from_data
from xiaoer.core.policy_form import (
    SECTIONS,
    PolicyField,
    changes,
    edit_section,
    section_fields,
    shown,
    typed,
    value_at,
)
from xiaoer.core.policy_store import policy_on, policy_version_on, policy_versions
from xiaoer.core.texts import message_of, say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.render import error_text, language_of, render
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.policy import (
    POLICY_KEEPERS,
    POLICY_READERS,
    PolicyDateError,
    check_may_change_policy,
    do_change_policy,
)

router = APIRouter()

Reader = Annotated[StaffAccount, Depends(require_staff(*POLICY_READERS))]
Keeper = Annotated[StaffAccount, Depends(require_staff(*POLICY_KEEPERS))]
MAX_TEXT = 4000  # characters of one typed setting


class SectionNotFound(NotFound):
    """No such section of the policy."""


class Words:
    """How the page names a setting and writes its value, in the reader's language."""

    def __init__(self, t: Translator) -> None:
        self.t = t
        self.zh = t.language == "zh"

    def label(self, field: PolicyField) -> str:
        name = field.label if self.zh else field.key.rsplit(".", 1)[-1].replace("_", " ")
        return f"{name}（{self.t('levels.' + field.level)}）" if field.level else name

    def help(self, field: PolicyField) -> str:
        return field.help if self.zh else field.description

    def unit(self, field: PolicyField) -> str:
        return self.t(f"policy_edit.unit_{field.unit}") if field.unit else ""

    def value(self, field: PolicyField, value: Any) -> str:
        if field.kind == "shifts":  # named as the roster names them
            return "、".join(
                f"{self.t.messages.get('attendance.shift_' + name, name)} {span}"
                for name, span in value.items()
            )
        text = shown(field, value, self.t("policy_edit.yes"), self.t("policy_edit.no"))
        unit = self.unit(field)
        if not unit or field.kind not in ("int", "fen", "share"):
            return text
        return f"{text}{unit}" if field.unit == "percent" else f"{text} {unit}"

    def section(self, section: str) -> str:
        return self.t(f"policy_edit.section_{section}")


async def _zone(session: AsyncSession, shop_id: int) -> str:
    shop = await session.get(Shop, shop_id)
    assert shop is not None
    return shop.timezone


def _section(section: str) -> str:
    if section not in SECTIONS:
        raise SectionNotFound(say("no policy section {section!r}", section=section))
    return section


async def _history(
    session: AsyncSession, shop_id: int, words: Words, zone: str
) -> list[dict[str, Any]]:
    """Every version, newest first, with what it changed from the one made before it."""
    versions = sorted(await policy_versions(session, shop_id), key=lambda v: v.id)
    before: Policy = default_policy()
    shown_rows: list[dict[str, Any]] = []
    for version in versions:
        policy = policy_from_data(version.data, f"policy version {version.id}")
        shown_rows.append(
            {
                "id": version.id,
                "effective_from": version.effective_from.isoformat(),
                "by": version.created_by,
                "at": local(version.created_at, zone).strftime("%Y-%m-%d %H:%M"),
                "source": version.source,
                "changes": [
                    (
                        words.section(f.section),
                        words.label(f),
                        words.value(f, old),
                        words.value(f, new),
                    )
                    for f, old, new in changes(before, policy)
                ],
            }
        )
        before = policy
    return shown_rows[::-1]


@router.get("/policy", response_class=HTMLResponse)
async def policy_page(
    request: Request, session: SessionDep, staff: Reader, saved: int | None = None
) -> Response:
    words = Words(Translator(language_of(request, staff)))
    today = await shop_today(session, staff.shop_id)
    policy = await policy_on(session, staff.shop_id, today)
    current, defaults = policy.to_plain(), default_policy().to_plain()
    sections = [
        (
            section,
            [
                {"field": f, "value": words.value(f, value_at(current, f.key)),
                 "default": words.value(f, value_at(defaults, f.key)),
                 "changed": value_at(current, f.key) != value_at(defaults, f.key)}
                for f in section_fields(section)
            ],
        )
        for section in SECTIONS
    ]  # fmt: skip
    context = {
        "words": words,
        "sections": sections,
        "may_change": staff.has_role(*POLICY_KEEPERS),
        "version": await policy_version_on(session, staff.shop_id, today),
        "history": await _history(
            session, staff.shop_id, words, await _zone(session, staff.shop_id)
        ),
        "saved": saved,
    }
    return render(request, "policy.html", context, staff=staff)


def _digest(policy: Policy, effective_from: str) -> str:
    data = json.dumps([policy.to_plain(), effective_from], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()[:32]


async def _form_page(
    request: Request,
    staff: StaffAccount,
    section: str,
    *,
    texts: dict[str, str],
    effective_from: str,
    errors: dict[str, str] | None = None,
    preview: list[tuple[str, str, str]] | None = None,
    previewed: str = "",
    notice: str = "",
    status_code: int = 200,
) -> Response:
    words = Words(Translator(language_of(request, staff)))
    context = {
        "words": words,
        "section": section,
        "fields": section_fields(section),
        "texts": texts,
        "effective_from": effective_from,
        "errors": errors or {},
        "preview": preview,
        "previewed": previewed,
        "notice": notice,
    }
    return render(request, "policy_edit.html", context, staff=staff, status_code=status_code)


@router.get("/policy/{section}", response_class=HTMLResponse)
async def policy_form(
    request: Request, session: SessionDep, staff: Keeper, section: str
) -> Response:
    check_may_change_policy(staff)
    section = _section(section)
    today = await shop_today(session, staff.shop_id)
    current = (await policy_on(session, staff.shop_id, today)).to_plain()
    texts = {f.key: typed(f, value_at(current, f.key)) for f in section_fields(section)}
    return await _form_page(request, staff, section, texts=texts, effective_from=today.isoformat())


@router.post("/policy/{section}", response_class=HTMLResponse)
async def policy_change(
    request: Request, session: SessionDep, staff: Keeper, section: str
) -> Response:
    check_may_change_policy(staff)
    section = _section(section)
    form = await request.form()
    texts = {f.key: str(form.get(f.key, ""))[:MAX_TEXT] for f in section_fields(section)}
    step = str(form.get("step", "preview"))
    effective_text = str(form.get("effective_from", "")).strip()[:10]
    today = await shop_today(session, staff.shop_id)
    current = await policy_on(session, staff.shop_id, today)
    new, problems = edit_section(current, section, texts)
    errors = {key: error_text(request, message) for key, message in problems.items()}
    effective_from: date | None = None
    try:
        effective_from = date.fromisoformat(effective_text)
    except ValueError:
        errors["effective_from"] = error_text(request, say("enter a date like 2026-12-31"))
    if effective_from is not None and effective_from < today:
        errors["effective_from"] = error_text(
            request, say("a change takes effect from today ({today}) or later",
                         today=today.isoformat())
        )  # fmt: skip
    if new is not None and not errors and not changes(current, new, section):
        errors[""] = error_text(request, say("nothing is changed in this section"))
    page: dict[str, Any] = {"texts": texts, "effective_from": effective_text}
    if new is None or errors or effective_from is None:
        return await _form_page(request, staff, section, errors=errors, status_code=422, **page)
    digest = _digest(new, effective_from.isoformat())
    if step == "save" and str(form.get("previewed", "")) == digest:
        try:
            version = await do_change_policy(
                session, staff, section=section, policy=new, effective_from=effective_from,
                today=today,
            )  # fmt: skip
        except PolicyDateError as exc:
            errors["effective_from"] = error_text(request, message_of(exc))
            return await _form_page(request, staff, section, errors=errors, status_code=422, **page)
        await session.commit()
        return RedirectResponse(f"/policy?saved={version.id}#history", status_code=303)
    words = Words(Translator(language_of(request, staff)))
    preview = [
        (words.label(f), words.value(f, old), words.value(f, value))
        for f, old, value in changes(current, new, section)
    ]
    notice = "" if step == "preview" else words.t("policy_edit.changed_since_preview")
    return await _form_page(
        request, staff, section, preview=preview, previewed=digest, notice=notice, **page
    )
