"""Imports every module that registers timer handlers, for the processes that fire timers."""

from xiaoer.reception import sla

__all__ = ["sla"]
