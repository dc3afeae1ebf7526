"""Buyers as each channel knows them, and how their contact details are masked.

The customer file built over them (merges, groups, greetings, members) is the
``customers`` package, which sits above the orders and after-sales it reads.
"""
