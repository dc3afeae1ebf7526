"""Shared foundations: settings, database, policy, auth, events, timers, clock, money."""
