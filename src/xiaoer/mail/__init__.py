"""The e-mail channel: a shop's mailbox as a way buyers write (C1)."""
