"""Orders and their items."""
