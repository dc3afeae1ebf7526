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


def _req(req: str, description: str, *, zh: tuple[str, str], **kw: Any) -> Any:
    """A setting: the requirement it comes from, its meaning, and its Chinese label and
    help for the policy page (``zh``: label, help)."""
    return Field(description=description, json_schema_extra={"req": req, "zh": list(zh)}, **kw)


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
        zh=("自动欢迎语时限", "买家发来第一条消息后，最迟多久自动发出欢迎语。"),
    )
    first_response_seconds: int = _req(
        "C3",
        "Target for the first human reply of a conversation.",
        default=30,
        ge=1,
        zh=("首次响应时限", "一次会话中客服第一次人工回复的目标时间。"),
    )
    reply_seconds: int = _req(
        "C3",
        "Target for every later human reply.",
        default=120,
        ge=1,
        zh=("平均回复时限", "此后每一次人工回复的目标时间。"),
    )
    max_concurrent_conversations: int = _req(
        "C6",
        "Most conversations one agent is given at once by routing.",
        default=8,
        ge=1,
        zh=("同时接待上限", "分配时一位客服同时最多接待的会话数。"),
    )
    busy_queue_length: int = _req(
        "C4",
        "Waiting buyers in a team's queue from which the busy reply is sent.",
        default=5,
        ge=1,
        zh=("排队繁忙提示", "组内排队买家达到这个人数时，自动发送繁忙提示。"),
    )
    service_hours: Span = _req(
        "C2 C4",
        "Hours (shop time) with agents on duty; outside them the offline reply answers.",
        default="08:00-24:00",
        zh=("客服在线时间", "有客服值班的时段（店铺时间）；其余时间由离线自动回复应答。"),
    )
    away_after_seconds: int = _req(
        "C7",
        "Seconds after an agent's last workbench page closes before they count as away.",
        default=60,
        ge=5,
        zh=("离开判定", "客服关闭最后一个工作台页面后，过多久算作离开。"),
    )
    offline_after_away_minutes: int = _req(
        "C7",
        "Minutes away with no workbench page open before an agent counts as offline.",
        default=30,
        ge=1,
        zh=("离线判定", "离开且没有打开工作台多久后，算作离线。"),
    )
    idle_online_minutes: int = _req(
        "C7",
        "Minutes online with waiting buyers and no activity before an agent counts as idle.",
        default=10,
        ge=1,
        zh=("挂机判定", "在线、有买家等待却没有任何操作多久后，算作挂机。"),
    )
    split_reply_chars: int = _req(
        "C8",
        "Replies longer than this many characters are sent as several messages.",
        default=120,
        ge=20,
        zh=("长回复拆分", "回复超过这么多字时，分成几条发送。"),
    )
    typing_speed_target_cpm: int = _req(
        "C8",
        "Target typing speed in characters per minute.",
        default=90,
        ge=1,
        zh=("打字速度目标", "每分钟应打出的字数。"),
    )
    peak_hours: list[Span] = _req(
        "C11",
        "Hours (shop time) that need the most agents online.",
        default=["14:00-17:00", "19:00-22:00"],
        zh=("咨询高峰时段", "需要最多客服在线的时段（店铺时间），每行一个，如 14:00-17:00。"),
    )
    peak_min_agents_online: int = _req(
        "C11",
        "Agents that should be online during peak hours.",
        default=3,
        ge=0,
        zh=("高峰在线人数", "高峰时段至少应在线的客服人数。"),
    )


class Orders(Section):
    seller_note_minutes: int = _req(
        "O3",
        "Minutes after payment by which the seller note must be written.",
        default=20,
        ge=1,
        zh=("备注时限", "买家付款后，必须在多久内写好卖家备注。"),
    )
    payment_reminder_minutes: int = _req(
        "O6",
        "Minutes after an unpaid order is placed before the payment reminder.",
        default=10,
        ge=1,
        zh=("催付时间", "买家下单未付款多久后发送催付。"),
    )
    reminder_quiet_hours: Span = _req(
        "O6",
        "Rest hours (shop time) in which no reminder is sent; reminders wait until they end.",
        default="22:30-08:30",
        zh=("催付免打扰时段", "这段时间（店铺时间）不催付，顺延到时段结束后。"),
    )
    reminder_recovery_hours: int = _req(
        "O6",
        "A reminded order paid within this many hours counts as recovered.",
        default=24,
        ge=1,
        zh=("催付成功判定", "催付后在这段时间内付款的订单，算作催付成功。"),
    )
    chase_after_hours: int = _req(
        "O5",
        "Hours an order may stay unpaid with its owner offline before another agent may chase it.",
        default=24,
        ge=1,
        zh=("跟单接手时间", "订单未付款且负责客服离线多久后，其他客服可以接手催付。"),
    )
    cod_phone_confirmation: bool = _req(
        "O7",
        "Cash-on-delivery orders need a phone confirmation before shipping.",
        default=True,
        zh=("货到付款电话确认", "货到付款订单发货前须电话确认。"),
    )
    ship_within_hours: int = _req(
        "O10 F4",
        "Hours after payment by which an order must be shipped.",
        default=48,
        ge=1,
        zh=("发货时限", "买家付款后，必须在多久内发货。"),
    )
    deliver_within_days: int = _req(
        "O10 F5",
        "Days after shipping by which an order should be delivered.",
        default=5,
        ge=1,
        zh=("送达时限", "发货后，应在多少天内送达。"),
    )


# What a parcel costs by carrier code (fen), as a small shop pays the big carriers.
COURIER_PRICES = {
    "SF": 2200, "YTO": 800, "ZTO": 800, "STO": 800, "YUNDA": 800, "EMS": 1500,
    "POSTB": 1000, "JD": 1800, "JTSD": 700, "DBL": 1600,
}  # fmt: skip


class Fulfilment(Section):
    safety_stock: int = _req(
        "F2",
        "Units per SKU held back from the listed stock.",
        default=3,
        ge=0,
        zh=("安全库存", "每个 SKU 从上架库存中预留的件数。"),
    )
    cutoff_time: ClockTime = _req(
        "F6",
        "Orders paid before this time (shop time) ship the same day.",
        default="16:00",
        zh=("当日发货截止时间", "在此时间（店铺时间）前付款的订单当天发出。"),
    )
    courier_change_allowed: bool = _req(
        "F6",
        "A buyer may ask for another courier and pay the difference.",
        default=True,
        zh=("可换快递", "买家可以要求换快递并补差价。"),
    )
    courier_prices: dict[str, Fen] = _req(
        "F6",
        "What a parcel costs the shop by carrier code (fen); a buyer who picks another "
        "courier than the default pays the difference.",
        default=COURIER_PRICES,
        zh=("各快递运费", "按快递公司代码计的每单运费（分）；买家换快递时补差价。"),
    )
    channels: list[str] = _req(
        "F2",
        "The channels the shop lists stock on, each with its own listing file.",
        default=["tmall", "taobao", "jd", "distributor", "site"],
        min_length=1,
        zh=("上架渠道", "店铺上架库存的渠道，每个渠道导出自己的库存文件。"),
    )
    low_stock_at: int = _req(
        "F2",
        "A SKU whose sellable stock falls to this many units or fewer raises an alert.",
        default=5,
        ge=0,
        zh=("低库存提醒", "可售库存降到这个件数及以下时提醒。"),
    )
    recount_over: int = _req(
        "F3",
        "A stock-take difference of more units than this is counted again before posting.",
        default=2,
        ge=0,
        zh=("复盘阈值", "盘点差异超过这个件数时，先复盘再过账。"),
    )
    audit_amount_over: Fen = _req(
        "F1",
        "An order paying more than this (fen) is held for a second look.",
        default=500000,
        zh=("大额审单", "实付超过这个金额（分）的订单留待复核。"),
    )
    remote_areas: list[str] = _req(
        "F1 F6",
        "Provinces and regions whose addresses the audit flags as remote.",
        default=["新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃", "海南"],
        zh=("偏远地区", "审单时标为偏远的省份和地区。"),
    )
    no_scan_hours: int = _req(
        "F5",
        "A shipped parcel without a new scan for this many hours is a problem parcel.",
        default=48,
        ge=1,
        zh=("无更新时限", "已发货包裹超过这么多小时没有新的物流记录，算作疑难件。"),
    )
    station_hours: int = _req(
        "F5",
        "A parcel out for delivery but not signed for after this many hours is stuck.",
        default=24,
        ge=1,
        zh=("派件滞留时限", "派件中超过这么多小时仍未签收，算作滞留。"),
    )


class Aftersales(Section):
    refund_blackout_days: list[str] = _req(
        "S2",
        "Peak days (MM-DD) on which refunds open only the next day.",
        default=["11-11"],
        zh=("大促退款顺延日", "这些日子（月-日）申请的退款次日才处理，每行一个，如 11-11。"),
    )
    complaint_next_reply_hours: int = _req(
        "S3",
        "Hours within which an unresolved complaint gets its promised next reply.",
        default=24,
        ge=1,
        zh=("投诉再回复时限", "未解决的投诉，须在这段时间内给买家承诺的下一次答复。"),
    )
    major_complaint_notify_minutes: int = _req(
        "S3 S7",
        "Minutes within which a major complaint reaches the leadership.",
        default=10,
        ge=1,
        zh=("重大投诉上报时限", "重大投诉须在多久内报到管理层。"),
    )
    refund_due_hours: int = _req(
        "S1 S2",
        "Hours within which a refund, return or exchange case is handled.",
        default=24,
        ge=1,
        zh=("退换货处理时限", "退款、退货或换货工单须在多久内处理。"),
    )
    complaint_due_hours: int = _req(
        "S1 S3",
        "Hours within which a complaint case is handled.",
        default=4,
        ge=1,
        zh=("投诉处理时限", "投诉工单须在多久内处理。"),
    )
    review_due_hours: int = _req(
        "S1 S4",
        "Hours within which a neutral or bad review case is handled.",
        default=48,
        ge=1,
        zh=("中差评处理时限", "中评、差评工单须在多久内处理。"),
    )
    inquiry_due_hours: int = _req(
        "S1",
        "Hours within which any other after-sales case is handled.",
        default=24,
        ge=1,
        zh=("其他售后时限", "其他售后工单须在多久内处理。"),
    )
    tell_buyer_progress: bool = _req(
        "S1",
        "Tell the buyer in their chat when their case moves.",
        default=True,
        zh=("告知买家进度", "工单有进展时，在买家的聊天窗口里告诉买家。"),
    )
    major_complaint_fen: Fen = _req(
        "S3",
        "A complaint about an order of at least this amount (fen) is major.",
        default=100000,
        zh=("重大投诉金额", "订单金额达到这个数的投诉算作重大投诉。"),
    )
    seller_review_templates: list[str] = _req(
        "S5",
        "Texts the shop reviews a finished trade's buyer with; the first is the default.",
        default=[
            "感谢亲的信任与支持，欢迎常来小店逛逛！",
            "买家爽快守信，合作愉快，期待下次再为您服务。",
        ],
        zh=("评价买家话术", "交易完成后评价买家用的话术，每行一条，第一条为默认。"),
    )
    bad_review_change_days: int = _req(
        "S4 P3",
        "Days an agent has to get a bad review they caused changed before it costs them.",
        default=7,
        ge=1,
        zh=("差评修改期限", "客服造成的差评，须在这么多天内让买家修改，否则计入考核。"),
    )
    major_complaint_words: list[str] = _req(
        "S3",
        "Words in a buyer's complaint that make it major.",
        default=["投诉", "12315", "工商", "媒体", "曝光", "律师", "起诉"],
        zh=("重大投诉关键词", "买家投诉中出现这些词即算重大投诉，每行一个。"),
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
        "P4 O3",
        "Fine (fen) for a seller note that is late or wrong.",
        default=2000,
        zh=("备注迟写或写错", "卖家备注超时或写错，每次罚款。"),
    )
    note_wrong_at_factory: Fen = _req(
        "P4 O9",
        "Fine (fen) for a wrong note found after the order reached production.",
        default=5000,
        zh=("备注错误已投产", "订单投入生产后才发现备注错误，每次罚款。"),
    )
    loss_paid_at_cost_over: Fen = _req(
        "P4",
        "A loss caused by an agent above this amount (fen) is paid at cost.",
        default=50000,
        zh=("照价赔偿起点", "客服造成的损失超过这个金额时，照成本赔偿。"),
    )
    tracking_neglect: Fen = _req(
        "P4 O10",
        "Fine (fen) for not following an order's shipping and delivery.",
        default=3000,
        zh=("物流跟踪不到位", "没有跟进订单发货和物流，每次罚款。"),
    )
    slow_reply: Fen = _req(
        "P4 C3",
        "Fine (fen) when replies over the reply target exceed the free count in a month.",
        default=5000,
        zh=("回复超时", "一个月内回复超时次数超过免罚次数后，每次罚款。"),
    )
    slow_reply_free_per_month: int = _req(
        "P4 C3",
        "Slow replies per month without a fine.",
        default=3,
        ge=0,
        zh=("回复超时免罚次数", "每月回复超时不罚款的次数。"),
    )
    no_reply_30_minutes: Fen = _req(
        "P4",
        "Fine (fen) for a buyer left without a reply for 30 minutes.",
        default=10000,
        zh=("30 分钟未回复", "买家 30 分钟得不到回复，每次罚款。"),
    )
    no_reply_2_hours: Fen = _req(
        "P4",
        "Fine (fen) for a buyer left without a reply for 2 hours.",
        default=20000,
        zh=("2 小时未回复", "买家 2 小时得不到回复，每次罚款。"),
    )
    online_unattended_2_hours: Fen = _req(
        "P4 C7",
        "Fine (fen) for being online but away for 2 hours.",
        default=20000,
        zh=("在线挂机 2 小时", "挂着在线却离开 2 小时，每次罚款。"),
    )
    absent_without_leave: Fen = _req(
        "P4 P7",
        "Fine (fen) for missing a shift without leave.",
        default=20000,
        zh=("旷工", "未请假缺班，每次罚款。"),
    )
    late: Fen = _req(
        "P4 P7",
        "Fine (fen) for each late arrival beyond the free ones.",
        default=2000,
        zh=("迟到", "超出免罚次数的每次迟到罚款。"),
    )
    late_free_per_month: int = _req(
        "P4 P7",
        "Late arrivals per month without a fine.",
        default=2,
        ge=0,
        zh=("迟到免罚次数", "每月迟到不罚款的次数。"),
    )
    late_free_minutes: int = _req(
        "P4 P7",
        "A late arrival of at most this many minutes can be a free one.",
        default=10,
        ge=0,
        zh=("免罚迟到分钟", "迟到不超过这么多分钟，才可算作免罚的一次。"),
    )
    complaint_reply_missed: Fen = _req(
        "P4 S3",
        "Fine (fen) for missing the next reply promised on a complaint.",
        default=5000,
        zh=("投诉答复失约", "没有按承诺给投诉买家下一次答复，每次罚款。"),
    )
    bad_review_not_changed: Fen = _req(
        "P3",
        "Fine (fen) for a bad review caused by an agent and not changed.",
        default=10000,
        zh=("差评未修改", "客服造成的差评未能修改，每次罚款。"),
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
        zh=("底薪", "各级别客服每月的底薪。"),
    )
    commission_rate: Decimal = _req(
        "P2",
        "Share of the agent's own paid sales paid as commission.",
        default=Decimal("0.005"),
        ge=0,
        le=1,
        zh=("提成比例", "客服本人成交付款金额中作为提成的比例。"),
    )
    team_bonus_share_of_base: Decimal = _req(
        "P2",
        "Team-score bonus as a share of base pay.",
        default=Decimal("0.10"),
        ge=0,
        le=1,
        zh=("团队奖金比例", "按团队得分发放的奖金，占底薪的比例。"),
    )
    full_attendance_bonus: Fen = _req(
        "P2 P7",
        "Bonus (fen) for a month of full attendance.",
        default=10000,
        zh=("全勤奖", "整月全勤的奖金。"),
    )
    living_allowance: Fen = _req(
        "P2", "Monthly living allowance (fen).", default=20000, zh=("生活补贴", "每月的生活补贴。")
    )
    deduct_sale_for_agent_returns: bool = _req(
        "P3",
        "Returns caused by the agent (or not for quality) are deducted from commission sales.",
        default=True,
        zh=("退货扣减提成", "客服原因（或非质量原因）的退货，从提成销售额中扣除。"),
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
        "A1",
        "Answer from the knowledge base when no agent has answered in time.",
        default=True,
        zh=("智能自动应答", "客服未能及时回复时，由知识库自动回答。"),
    )
    auto_answer_seconds: int = _req(
        "A1 C3",
        "Seconds a buyer waits for a human before the assistant answers.",
        default=60,
        ge=5,
        zh=("自动应答等待", "买家等待人工多久后，由智能助手回答。"),
    )
    auto_answer_confidence: float = _req(
        "A1",
        "Least confidence in the question's intent for an automatic answer.",
        default=0.9,
        ge=0,
        le=1,
        zh=("自动应答把握", "识别买家问题的把握至少达到多少才自动回答。"),
    )


class Promotion(Section):
    junior_clean_months: int = _req(
        "P5",
        "Months without errors (and an exam) before junior → intermediate.",
        default=2,
        ge=0,
        zh=("初级晋升月数", "初级晋升中级前须无差错（并通过考试）的月数。"),
    )
    intermediate_clean_months: int = _req(
        "P5",
        "Months without errors before intermediate → senior.",
        default=3,
        ge=0,
        zh=("中级晋升月数", "中级晋升高级前须无差错的月数。"),
    )
    senior_months: int = _req(
        "P5",
        "Months as senior before senior → account manager.",
        default=12,
        ge=0,
        zh=("高级任职月数", "高级晋升客户经理前须任高级的月数。"),
    )
    senior_clean_months: int = _req(
        "P5",
        "Of those, the last months that must be without errors.",
        default=3,
        ge=0,
        zh=("高级无差错月数", "其中最近须无差错的月数。"),
    )
    exam_required: bool = _req(
        "P5",
        "Promotion from junior needs a passed exam.",
        default=True,
        zh=("晋升须考试", "初级晋升须通过考试。"),
    )


class Authority(Section):
    """What an agent may grant without asking the supervisor."""

    max_discount_fen: Fen = Field(
        description="Largest price cut per order (fen).",
        json_schema_extra={"zh": ["优惠上限", "每单可直接给的最大优惠金额。"]},
    )
    max_discount_percent: Decimal = Field(
        description="Largest price cut as a share of the order.",
        ge=0,
        le=1,
        json_schema_extra={"zh": ["优惠比例上限", "优惠最多占订单金额的比例。"]},
    )
    free_shipping: bool = Field(
        description="May waive the shipping fee.",
        json_schema_extra={"zh": ["可免运费", "可以直接为买家免运费。"]},
    )
    max_gift_fen: Fen = Field(
        description="Largest gift value per order (fen).",
        json_schema_extra={"zh": ["赠品上限", "每单可直接送的赠品最大价值。"]},
    )
    max_shipping_fee_change_fen: Fen = Field(
        description="Largest change to the shipping fee (fen).",
        json_schema_extra={"zh": ["改运费上限", "运费最多可改动的金额。"]},
    )
    max_refund_fen: Fen = Field(
        default=0,
        description="Largest refund agreed without the supervisor (fen).",
        json_schema_extra={"zh": ["退款上限", "不经主管可直接同意的最大退款金额。"]},
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
    window_days: int = _req(
        "P6",
        "Days covered by the rolling KPI figures.",
        default=30,
        ge=1,
        zh=("考核统计天数", "滚动考核数据覆盖的天数。"),
    )
    response_hours: Span = _req(
        "P6",
        "Hours (shop time) in which response times are counted.",
        default="08:00-23:00",
        zh=("响应统计时段", "计算响应时间的时段（店铺时间）。"),
    )
    round_cap_seconds: int = _req(
        "P6",
        "A response round counts at most this long; an unanswered round counts this long.",
        default=600,
        ge=1,
        zh=("单轮响应封顶", "一轮响应最多按这么长计算；未回复的一轮也按这么长计算。"),
    )
    fast_response_seconds: int = _req(
        "P6",
        "A round answered within this many seconds counts as fast (3-minute rate).",
        default=180,
        ge=1,
        zh=("快速响应标准", "在这段时间内回复的一轮算作快速响应（三分钟响应率）。"),
    )
    long_conversation_minutes: int = _req(
        "P6",
        "A conversation longer than this counts as long.",
        default=30,
        ge=1,
        zh=("长会话标准", "超过这么长的会话算作长会话。"),
    )
    conversion_window_days: int = _req(
        "P6",
        "An inquiry converts when the buyer orders the same day or within this many days after.",
        default=1,
        ge=0,
        zh=("询单转化天数", "买家在咨询当天或此后这么多天内下单，算作转化。"),
    )


_LEVEL_LINE = re.compile(r"^\s*(\S+)\s+(\d{1,6})\s+(\d{1,9})\s*$")


def _check_member_levels(value: list[str]) -> list[str]:
    """Each line ``name orders yuan``; each level asks more than the one before."""
    previous = (-1, -1)
    names: set[str] = set()
    for line in value:
        match = _LEVEL_LINE.match(line)
        if match is None:
            raise ValueError(
                say(
                    "write each level as its name, paid orders and yuan spent, like 'silver 3 1000'"
                )
            )
        name, orders, spent = match.group(1), int(match.group(2)), int(match.group(3))
        if (
            name in names
            or (orders, spent) <= previous
            or orders < previous[0]
            or spent < previous[1]
        ):
            raise ValueError(say("each member level must ask more than the one before it"))
        names.add(name)
        previous = (orders, spent)
    return value


def member_levels(lines: list[str]) -> list[tuple[str, int, int]]:
    """The policy's member levels as ``(name, orders, spent_fen)``, lowest first."""
    levels = []
    for line in lines:
        match = _LEVEL_LINE.match(line)
        assert match is not None  # checked when the policy was read
        levels.append((match.group(1), int(match.group(2)), int(match.group(3)) * 100))
    return levels


class Customers(Section):
    member_levels: Annotated[list[str], AfterValidator(_check_member_levels)] = _req(
        "R5",
        "Member levels, lowest first, one a line: the name, then the paid orders and the "
        "yuan spent a buyer needs for it (both).",
        default=["member 2 0", "silver 4 1000", "gold 8 3000"],
        zh=(
            "会员等级",
            "由低到高每行一个：名称、所需付款订单数、所需累计消费（元），两项都达到才升级。",
        ),
    )
    price_levels: list[int] = _req(
        "R1",
        "Average order values (yuan) that divide buyers into low, middle and high price levels.",
        default=[100, 300],
        min_length=2,
        max_length=2,
        zh=("客单价档位", "把买家分为低、中、高消费档的两个平均客单价（元）。"),
    )
    points_per_yuan: int = _req(
        "R5",
        "Points a buyer earns per yuan paid (every buyer, member or not; rounded down).",
        default=1,
        ge=0,
        zh=("积分比例", "买家每付款一元获得的积分（不论是否会员，向下取整）。"),
    )
    points_pending_days: int = _req(
        "R5",
        "Days after shipping that earned points stay pending (the return window), unless "
        "the buyer confirms receipt first.",
        default=15,
        ge=0,
        zh=("积分冻结期", "发货后积分冻结的天数（退货期）；买家先确认收货则提前生效。"),
    )
    points_expire_months: int = _req(
        "R5",
        "Months after they become usable that points expire.",
        default=12,
        ge=1,
        zh=("积分有效期", "积分生效后多少个月过期。"),
    )
    point_value_fen: int = _req(
        "R5",
        "What one point takes off an order (fen).",
        default=1,
        ge=1,
        zh=("积分抵扣", "每个积分抵扣的金额（分）。"),
    )
    points_max_share: Decimal = _req(
        "R5",
        "The largest part of an order's amount that points may pay.",
        default=Decimal("0.5"),
        ge=0,
        le=1,
        zh=("积分抵扣上限", "积分最多抵扣订单金额的比例。"),
    )
    greeting_hour: ClockTime = _req(
        "R3",
        "Time of day (shop time) greetings are sent when the buyer's online hours are unknown.",
        default="10:00",
        zh=("问候发送时间", "不知道买家常在线时间时，问候在这个时间（店铺时间）发出。"),
    )
    greeting_quiet_hours: Span = _req(
        "R3",
        "Hours (shop time) when no greeting is sent.",
        default="21:30-09:00",
        zh=("问候免打扰时段", "这段时间（店铺时间）内不发问候。"),
    )
    greetings_per_month: int = _req(
        "R3",
        "Greetings one customer receives in a month at most.",
        default=2,
        ge=0,
        zh=("每月问候上限", "每位顾客每月最多收到的问候条数。"),
    )
    greet_holidays: list[str] = _req(
        "R3",
        "Public holidays greeted, by name: new_year, spring_festival, tomb_sweeping, "
        "labour_day, dragon_boat, mid_autumn, national_day.",
        default=[
            "new_year",
            "spring_festival",
            "labour_day",
            "dragon_boat",
            "mid_autumn",
            "national_day",
        ],
        zh=("节日问候", "发问候的法定节日，每行一个英文名，如 spring_festival。"),
    )
    sms_gateway: str = _req(
        "R3",
        "Address the shop's SMS gateway takes greetings at (docs/api.md); empty sends none.",
        default="",
        max_length=300,
        zh=("短信网关", "短信网关接收问候的地址（见 docs/api.md）；留空则不发短信。"),
    )
    online_min_samples: int = _req(
        "R2",
        "Messages and orders a customer needs before their online hours are trusted.",
        default=6,
        ge=1,
        zh=("在线时段样本数", "顾客至少有这么多条消息和订单，才据此推断常在线时段。"),
    )
    follow_up_after_days: int = _req(
        "R4",
        "Days after delivery when a follow-up visit is due.",
        default=7,
        ge=1,
        zh=("回访时间", "签收后多少天进行回访。"),
    )


class Attendance(Section):
    shifts: dict[str, Span] = _req(
        "P7",
        "Named shifts and their hours (shop time).",
        default={"early": "08:00-16:30", "late": "15:30-24:00"},
        zh=("班次", "各班次的名称和时间（店铺时间），每行一个，如 早班 08:00-16:30。"),
    )


class Imports(Section):
    keep_rejects_days: int = _req(
        "O1",
        "Days an import's rejects files stay downloadable after it ends; an interrupted "
        "import not resumed within as many days is given up and its uploaded files deleted.",
        default=30,
        ge=1,
        zh=(
            "导入错误文件保留",
            "导入结束后被拒行文件可下载的天数；中断的导入在这么多天内未继续即放弃并删除上传文件。",
        ),
    )


class Targets(Section):
    monthly_trades: list[int] = _req(
        "D3",
        "Monthly trade-count milestones the shop tracks.",
        default=[50, 400, 600],
        zh=("月度成交目标", "店铺关注的月成交笔数里程碑，如 50、400、600。"),
    )


class Peakday(Section):
    service_level: float = _req(
        "D1 C3",
        "Share of buyers the staffing plan answers within the first-response target.",
        default=0.8,
        gt=0,
        lt=1,
        zh=("服务水平目标", "人员测算中，在首次响应时限内得到回复的买家所占比例。"),
    )
    concurrency: int = _req(
        "D1",
        "Chats one agent holds at once on the peak day, for the staffing plan.",
        default=3,
        ge=1,
        le=20,
        zh=("测算同时接待数", "大促当天一位客服同时接待的会话数，用于人员测算。"),
    )
    shrinkage: float = _req(
        "D1",
        "Share of rostered time an agent is not at the chat (breaks, meals, training).",
        default=0.15,
        ge=0,
        lt=1,
        zh=("损耗率", "排班时间中客服不在接待的比例（休息、用餐、培训）。"),
    )
    max_occupancy: float = _req(
        "D1",
        "Highest share of the time an agent should be busy with buyers.",
        default=0.85,
        gt=0,
        le=1,
        zh=("最高占用率", "客服忙于接待的时间最多占多少比例。"),
    )
    history_weeks: int = _req(
        "D1",
        "Weeks of the shop's own history a forecast's ordinary day is averaged over.",
        default=8,
        ge=1,
        le=52,
        zh=("预测参考周数", "预测平日咨询量时，取最近多少周的店铺历史平均。"),
    )
    event_multiplier: float = _req(
        "D1",
        "How many times an ordinary day's sessions a new event forecast starts from.",
        default=4.0,
        gt=0,
        le=100,
        zh=("活动倍数", "新建活动预测时，默认按平日咨询量的多少倍估计。"),
    )
    spike: float = _req(
        "D1",
        "How many times the day's busiest quarter-hour the event's first one reaches "
        "(the midnight spike; 0: none).",
        default=3.0,
        ge=0,
        le=50,
        zh=(
            "零点峰值倍数",
            "活动开始第一个十五分钟的咨询量是当日最忙十五分钟的多少倍（零点高峰；0 表示没有）。",
        ),
    )
    spike_minutes: int = _req(
        "D1",
        "Minutes over which the midnight spike falls back to the day's level.",
        default=60,
        ge=1,
        le=720,
        zh=("峰值回落时间", "零点高峰回落到当日水平所用的分钟数。"),
    )


class Activities(Section):
    quiz_questions: int = _req(
        "D2",
        "Questions in an agent's quiz on the shop's activities.",
        default=8,
        ge=3,
        le=20,
        zh=("活动测验题数", "每位客服活动测验的题目数量。"),
    )
    quiz_pass_share: Decimal = _req(
        "D2",
        "Share of right answers that passes the quiz.",
        default=Decimal("0.8"),
        gt=0,
        le=1,
        zh=("测验及格线", "答对题目所占比例达到这个数才算通过。"),
    )
    quiz_lookahead_days: int = _req(
        "D2",
        "Days ahead whose upcoming activities the quiz asks about, beside the running ones.",
        default=14,
        ge=0,
        le=90,
        zh=("测验覆盖天数", "除了正在进行的活动，测验还考这么多天内将开始的活动。"),
    )
    check_ended_days: int = _req(
        "D2",
        "Days after an activity ended that a draft quoting it is still stopped.",
        default=60,
        ge=0,
        le=365,
        zh=("已结束活动提醒天数", "活动结束后这么多天内，草稿再引用它会被拦下。"),
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
        zh=("客服权限", "各级别客服不经主管可以直接给买家的让利和退款。"),
    )
    kpi: Kpi = Kpi()
    customers: Customers = Customers()
    attendance: Attendance = Attendance()
    imports: Imports = Imports()
    targets: Targets = Targets()
    peakday: Peakday = Peakday()
    activities: Activities = Activities()

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
