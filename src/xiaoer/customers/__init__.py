"""Buyers and their profiles."""
