"""The platform's seller centre: its exports read into the shop's orders."""
