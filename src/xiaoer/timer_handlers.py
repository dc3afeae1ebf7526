"""Imports every module that registers timer handlers, for the processes that fire timers,
and the hooks of higher packages on lower ones' moments (an order's status, its prices)."""

from xiaoer.aftersales import complaints, imported, tickets
from xiaoer.assistant import autoanswer
from xiaoer.customers import greetings_send, membership, points, points_settle, upkeep
from xiaoer.fulfilment import audit, parcel_problems
from xiaoer.mail import outbound
from xiaoer.orders import workflow
from xiaoer.peakday import peak_mode
from xiaoer.performance import attendance, kpi
from xiaoer.reception import presence, sla
from xiaoer.sellercentre import cleanup

__all__ = [
    "attendance",
    "audit",
    "autoanswer",
    "cleanup",
    "complaints",
    "greetings_send",
    "imported",
    "kpi",
    "membership",
    "outbound",
    "parcel_problems",
    "peak_mode",
    "points",
    "points_settle",
    "presence",
    "sla",
    "tickets",
    "upkeep",
    "workflow",
]
