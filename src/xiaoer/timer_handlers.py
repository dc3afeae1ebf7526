"""Imports every module that registers timer handlers, for the processes that fire timers."""

from xiaoer.assistant import autoanswer
from xiaoer.orders import workflow
from xiaoer.reception import sla

__all__ = ["autoanswer", "sla", "workflow"]
