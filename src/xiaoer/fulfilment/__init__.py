"""Fulfilment (F1–F6): the audit queue, one stock ledger, shipping, tracking."""
