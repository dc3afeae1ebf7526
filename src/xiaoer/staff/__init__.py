"""Agents, teams, levels, roles."""
