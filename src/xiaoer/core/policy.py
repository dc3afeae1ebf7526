"""The shop policy: every number of the handbook, as settings with defaults.

A policy is one TOML file. It is validated here; a bad file gets an error that
names the key, the value and what was expected. Applied policies are stored as
versions with the date they take effect (see :mod:`xiaoer.core.policy_store`).
Each field's description says what it means; ``json_schema_extra["req"]`` names
the requirement it comes from. ``docs/policy.md`` is generated from this file.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from xiaoer.core.texts import message_of, say

LEVELS = ("junior", "intermediate", "senior", "account_manager")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SPAN = re.compile(r"^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


def _req(req: str, description: str, **kw: Any) -> Any:
    return Field(description=description, json_schema_extra={"req": req}, **kw)


Fen = Annotated[int, Field(ge=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def span_bounds(span: str) -> tuple[time, time]:
    """``"22:30-08:30"`` → its start and end times of day."""
    start, end = span.split("-")
    return _parse_hhmm(start), _parse_hhmm(end)


def in_span(span: str, moment: time) -> bool:
    """Whether a time of day falls in a span; a span may run past midnight."""
    start, end = span_bounds(span)
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def _parse_hhmm(text: str) -> time:
    hours, minutes = (int(p) for p in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def _check_span(value: str) -> str:
    if not _SPAN.match(value):
        raise ValueError(say("expected a time span like '14:00-17:00'"))
    return value


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(say("expected a time of day like '16:00'"))
    return value


Span = Annotated[str, AfterValidator(_check_span)]
ClockTime = Annotated[str, AfterValidator(_check_hhmm)]


class Reception(Section):
    welcome_seconds: int = _req(
        "C2 C3",
        "Longest wait for the automatic welcome after a buyer's first message.",
        default=10,
        ge=1,
    )
    first_response_seconds: int = _req(
        "C3", "Target for the first human reply of a conversation.", default=30, ge=1
    )
    reply_seconds: int = _req("C3", "Target for every later human reply.", default=120, ge=1)
    max_concurrent_conversations: int = _req(
        "C6", "Most conversations one agent is given at once by routing.", default=8, ge=1
    )
    busy_queue_length: int = _req(
        "C4", "Waiting buyers in a team's queue from which the busy reply is sent.", default=5, ge=1
    )
    service_hours: Span = _req(
        "C2 C4",
        "Hours (shop time) with agents on duty; outside them the offline reply answers.",
        default="08:00-24:00",
    )
    away_after_seconds: int = _req(
        "C7",
        "Seconds after an agent's last workbench page closes before they count as away.",
        default=60,
        ge=5,
    )
    offline_after_away_minutes: int = _req(
        "C7",
        "Minutes away with no workbench page open before an agent counts as offline.",
        default=30,
        ge=1,
    )
    idle_online_minutes: int = _req(
        "C7",
        "Minutes online with waiting buyers and no activity before an agent counts as idle.",
        default=10,
        ge=1,
    )
    split_reply_chars: int = _req(
        "C8",
        "Replies longer than this many characters are sent as several messages.",
        default=120,
        ge=20,
    )
    typing_speed_target_cpm: int = _req(
        "C8", "Target typing speed in characters per minute.", default=90, ge=1
    )
    peak_hours: list[Span] = _req(
        "C11",
        "Hours (shop time) that need the most agents online.",
        default=["14:00-17:00", "19:00-22:00"],
    )
    peak_min_agents_online: int = _req(
        "C11", "Agents that should be online during peak hours.", default=3, ge=0
    )


class Orders(Section):
    seller_note_minutes: int = _req(
        "O3", "Minutes after payment by which the seller note must be written.", default=20, ge=1
    )
    payment_reminder_minutes: int = _req(
        "O6",
        "Minutes after an unpaid order is placed before the payment reminder.",
        default=10,
        ge=1,
    )
    reminder_quiet_hours: Span = _req(
        "O6",
        "Rest hours (shop time) in which no reminder is sent; reminders wait until they end.",
        default="22:30-08:30",
    )
    reminder_recovery_hours: int = _req(
        "O6", "A reminded order paid within this many hours counts as recovered.", default=24, ge=1
    )
    chase_after_hours: int = _req(
        "O5",
        "Hours an order may stay unpaid with its owner offline before another agent may chase it.",
        default=24,
        ge=1,
    )
    cod_phone_confirmation: bool = _req(
        "O7", "Cash-on-delivery orders need a phone confirmation before shipping.", default=True
    )
    ship_within_hours: int = _req(
        "O10 F4", "Hours after payment by which an order must be shipped.", default=48, ge=1
    )
    deliver_within_days: int = _req(
        "O10 F5", "Days after shipping by which an order should be delivered.", default=5, ge=1
    )


class Fulfilment(Section):
    safety_stock: int = _req(
        "F2", "Units per SKU held back from the listed stock.", default=3, ge=0
    )
    cutoff_time: ClockTime = _req(
        "F6", "Orders paid before this time (shop time) ship the same day.", default="16:00"
    )
    courier_change_allowed: bool = _req(
        "F6", "A buyer may ask for another courier and pay the difference.", default=True
    )


class Aftersales(Section):
    refund_blackout_days: list[str] = _req(
        "S2", "Peak days (MM-DD) on which refunds open only the next day.", default=["11-11"]
    )
    complaint_next_reply_hours: int = _req(
        "S3",
        "Hours within which an unresolved complaint gets its promised next reply.",
        default=24,
        ge=1,
    )
    major_complaint_notify_minutes: int = _req(
        "S3 S7", "Minutes within which a major complaint reaches the leadership.", default=10, ge=1
    )
    refund_due_hours: int = _req(
        "S1 S2",
        "Hours within which a refund, return or exchange case is handled.",
        default=24,
        ge=1,
    )
    complaint_due_hours: int = _req(
        "S1 S3", "Hours within which a complaint case is handled.", default=4, ge=1
    )
    review_due_hours: int = _req(
        "S1 S4", "Hours within which a neutral or bad review case is handled.", default=48, ge=1
    )
    inquiry_due_hours: int = _req(
        "S1", "Hours within which any other after-sales case is handled.", default=24, ge=1
    )
    tell_buyer_progress: bool = _req(
        "S1", "Tell the buyer in their chat when their case moves.", default=True
    )
    major_complaint_fen: Fen = _req(
        "S3", "A complaint about an order of at least this amount (fen) is major.", default=100000
    )
    seller_review_templates: list[str] = _req(
        "S5",
        "Texts the shop reviews a finished trade's buyer with; the first is the default.",
        default=[
            "感谢亲的信任与支持，欢迎常来小店逛逛！",
            "买家爽快守信，合作愉快，期待下次再为您服务。",
        ],
    )
    bad_review_change_days: int = _req(
        "S4 P3",
        "Days an agent has to get a bad review they caused changed before it costs them.",
        default=7,
        ge=1,
    )
    major_complaint_words: list[str] = _req(
        "S3",
        "Words in a buyer's complaint that make it major.",
        default=["投诉", "12315", "工商", "媒体", "曝光", "律师", "起诉"],
    )

    @field_validator("refund_blackout_days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for day in value:
            if not re.match(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", day):
                raise ValueError(say("expected month-day like '11-11', got {day!r}", day=day))
        return value


class Fines(Section):
    note_late_or_wrong: Fen = _req(
        "P4 O3", "Fine (fen) for a seller note that is late or wrong.", default=2000
    )
    note_wrong_at_factory: Fen = _req(
        "P4 O9",
        "Fine (fen) for a wrong note found after the order reached production.",
        default=5000,
    )
    loss_paid_at_cost_over: Fen = _req(
        "P4", "A loss caused by an agent above this amount (fen) is paid at cost.", default=50000
    )
    tracking_neglect: Fen = _req(
        "P4 O10", "Fine (fen) for not following an order's shipping and delivery.", default=3000
    )
    slow_reply: Fen = _req(
        "P4 C3",
        "Fine (fen) when replies over the reply target exceed the free count in a month.",
        default=5000,
    )
    slow_reply_free_per_month: int = _req(
        "P4 C3", "Slow replies per month without a fine.", default=3, ge=0
    )
    no_reply_30_minutes: Fen = _req(
        "P4", "Fine (fen) for a buyer left without a reply for 30 minutes.", default=10000
    )
    no_reply_2_hours: Fen = _req(
        "P4", "Fine (fen) for a buyer left without a reply for 2 hours.", default=20000
    )
    online_unattended_2_hours: Fen = _req(
        "P4 C7", "Fine (fen) for being online but away for 2 hours.", default=20000
    )
    absent_without_leave: Fen = _req(
        "P4 P7", "Fine (fen) for missing a shift without leave.", default=20000
    )
    late: Fen = _req(
        "P4 P7", "Fine (fen) for each late arrival beyond the free ones.", default=2000
    )
    late_free_per_month: int = _req(
        "P4 P7", "Late arrivals per month without a fine.", default=2, ge=0
    )
    late_free_minutes: int = _req(
        "P4 P7", "A late arrival of at most this many minutes can be a free one.", default=10, ge=0
    )
    complaint_reply_missed: Fen = _req(
        "P4 S3", "Fine (fen) for missing the next reply promised on a complaint.", default=5000
    )
    bad_review_not_changed: Fen = _req(
        "P3", "Fine (fen) for a bad review caused by an agent and not changed.", default=10000
    )


class Pay(Section):
    base_by_level: dict[str, Fen] = _req(
        "P1",
        "Monthly base pay (fen) for each level.",
        default={
            "junior": 150000,
            "intermediate": 180000,
            "senior": 220000,
            "account_manager": 270000,
        },
    )
    commission_rate: Decimal = _req(
        "P2",
        "Share of the agent's own paid sales paid as commission.",
        default=Decimal("0.005"),
        ge=0,
        le=1,
    )
    team_bonus_share_of_base: Decimal = _req(
        "P2", "Team-score bonus as a share of base pay.", default=Decimal("0.10"), ge=0, le=1
    )
    full_attendance_bonus: Fen = _req(
        "P2 P7", "Bonus (fen) for a month of full attendance.", default=10000
    )
    living_allowance: Fen = _req("P2", "Monthly living allowance (fen).", default=20000)
    deduct_sale_for_agent_returns: bool = _req(
        "P3",
        "Returns caused by the agent (or not for quality) are deducted from commission sales.",
        default=True,
    )

    @field_validator("base_by_level")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        missing = [lv for lv in LEVELS if lv not in value]
        extra = [lv for lv in value if lv not in LEVELS]
        if missing or extra:
            raise ValueError(say("expected exactly the levels {levels}", levels=", ".join(LEVELS)))
        return value


class Assistant(Section):
    auto_answer: bool = _req(
        "A1", "Answer from the knowledge base when no agent has answered in time.", default=True
    )
    auto_answer_seconds: int = _req(
        "A1 C3",
        "Seconds a buyer waits for a human before the assistant answers.",
        default=60,
        ge=5,
    )
    auto_answer_confidence: float = _req(
        "A1",
        "Least confidence in the question's intent for an automatic answer.",
        default=0.9,
        ge=0,
        le=1,
    )


class Promotion(Section):
    junior_clean_months: int = _req(
        "P5", "Months without errors (and an exam) before junior → intermediate.", default=2, ge=0
    )
    intermediate_clean_months: int = _req(
        "P5", "Months without errors before intermediate → senior.", default=3, ge=0
    )
    senior_months: int = _req(
        "P5", "Months as senior before senior → account manager.", default=12, ge=0
    )
    senior_clean_months: int = _req(
        "P5", "Of those, the last months that must be without errors.", default=3, ge=0
    )
    exam_required: bool = _req("P5", "Promotion from junior needs a passed exam.", default=True)


class Authority(Section):
    """What an agent may grant without asking the supervisor."""

    max_discount_fen: Fen = Field(description="Largest price cut per order (fen).")
    max_discount_percent: Decimal = Field(
        description="Largest price cut as a share of the order.", ge=0, le=1
    )
    free_shipping: bool = Field(description="May waive the shipping fee.")
    max_gift_fen: Fen = Field(description="Largest gift value per order (fen).")
    max_shipping_fee_change_fen: Fen = Field(
        description="Largest change to the shipping fee (fen)."
    )
    max_refund_fen: Fen = Field(
        default=0, description="Largest refund agreed without the supervisor (fen)."
    )


_AUTHORITY_DEFAULTS = {
    "junior": Authority(
        max_discount_fen=0,
        max_discount_percent=Decimal("0"),
        free_shipping=False,
        max_gift_fen=0,
        max_shipping_fee_change_fen=0,
        max_refund_fen=3000,
    ),
    "intermediate": Authority(
        max_discount_fen=500,
        max_discount_percent=Decimal("0.02"),
        free_shipping=False,
        max_gift_fen=1000,
        max_shipping_fee_change_fen=500,
        max_refund_fen=10000,
    ),
    "senior": Authority(
        max_discount_fen=2000,
        max_discount_percent=Decimal("0.05"),
        free_shipping=True,
        max_gift_fen=3000,
        max_shipping_fee_change_fen=1500,
        max_refund_fen=30000,
    ),
    "account_manager": Authority(
        max_discount_fen=5000,
        max_discount_percent=Decimal("0.10"),
        free_shipping=True,
        max_gift_fen=5000,
        max_shipping_fee_change_fen=3000,
        max_refund_fen=100000,
    ),
}


class Kpi(Section):
    window_days: int = _req("P6", "Days covered by the rolling KPI figures.", default=30, ge=1)
    response_hours: Span = _req(
        "P6", "Hours (shop time) in which response times are counted.", default="08:00-23:00"
    )
    round_cap_seconds: int = _req(
        "P6",
        "A response round counts at most this long; an unanswered round counts this long.",
        default=600,
        ge=1,
    )
    fast_response_seconds: int = _req(
        "P6",
        "A round answered within this many seconds counts as fast (3-minute rate).",
        default=180,
        ge=1,
    )
    long_conversation_minutes: int = _req(
        "P6", "A conversation longer than this counts as long.", default=30, ge=1
    )
    conversion_window_days: int = _req(
        "P6",
        "An inquiry converts when the buyer orders the same day or within this many days after.",
        default=1,
        ge=0,
    )


class Customers(Section):
    member_after_orders: int = _req(
        "R5", "Paid orders after which a buyer becomes a member.", default=2, ge=1
    )
    greeting_hour: ClockTime = _req(
        "R3",
        "Time of day (shop time) greetings are sent when the buyer's online hours are unknown.",
        default="10:00",
    )
    follow_up_after_days: int = _req(
        "R4", "Days after delivery when a follow-up visit is due.", default=7, ge=1
    )


class Attendance(Section):
    shifts: dict[str, Span] = _req(
        "P7",
        "Named shifts and their hours (shop time).",
        default={"early": "08:00-16:30", "late": "15:30-24:00"},
    )


class Imports(Section):
    keep_rejects_days: int = _req(
        "O1",
        "Days an import's rejects files stay downloadable after it ends; an interrupted "
        "import not resumed within as many days is given up and its uploaded files deleted.",
        default=30,
        ge=1,
    )


class Targets(Section):
    monthly_trades: list[int] = _req(
        "D3", "Monthly trade-count milestones the shop tracks.", default=[50, 400, 600]
    )


class Policy(BaseModel):
    """The whole handbook's numbers for one shop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reception: Reception = Reception()
    assistant: Assistant = Assistant()
    orders: Orders = Orders()
    fulfilment: Fulfilment = Fulfilment()
    aftersales: Aftersales = Aftersales()
    fines: Fines = Fines()
    pay: Pay = Pay()
    promotion: Promotion = Promotion()
    authority: dict[str, Authority] = _req(
        "A5 O8",
        "Per level: what an agent may grant without asking the supervisor.",
        default=_AUTHORITY_DEFAULTS,
    )
    kpi: Kpi = Kpi()
    customers: Customers = Customers()
    attendance: Attendance = Attendance()
    imports: Imports = Imports()
    targets: Targets = Targets()

    @field_validator("authority")
    @classmethod
    def _levels(cls, value: dict[str, Authority]) -> dict[str, Authority]:
        missing = [lv for lv in LEVELS if lv not in value]
        extra = [lv for lv in value if lv not in LEVELS]
        if missing or extra:
            raise ValueError(say("expected exactly the levels {levels}", levels=", ".join(LEVELS)))
        return value

    def authority_for(self, level: str) -> Authority:
        return self.authority[level]

    def to_plain(self) -> dict[str, Any]:
        """JSON/TOML-safe: decimals as strings."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_plain())


class PolicyError(ValueError):
    """A policy file that cannot be used; ``problems`` lists each one.

    Each problem is a :func:`~xiaoer.core.texts.say` message a page can show in the
    reader's language; pydantic's own wording of a problem stays English.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Validate a TOML policy; keys left out keep their defaults."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [say("not valid TOML: {error}", error=str(exc))]) from exc
    return policy_from_data(data, source)


def policy_from_data(data: dict[str, Any], source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"])
            value = _describe(err["input"])
            if err["type"] == "extra_forbidden":
                problems.append(say("{key}: unknown key (value {value})", key=key, value=value))
            else:
                cause = err.get("ctx", {}).get("error")
                message = (
                    message_of(cause)  # ours, made by say()
                    if err["type"] == "value_error" and isinstance(cause, ValueError)
                    else err["msg"].removeprefix("Value error, ")
                )
                problems.append(
                    say("{key} = {value}: {message}", key=key, value=value, message=message)
                )
        raise PolicyError(source, problems) from exc


def default_policy() -> Policy:
    return Policy()


def default_policy_toml() -> str:
    """The shipped ``default-policy.toml``, with its comments."""
    return resources.files("xiaoer.core").joinpath("default-policy.toml").read_text("utf-8")
