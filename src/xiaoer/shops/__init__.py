"""Shops and their channels."""
