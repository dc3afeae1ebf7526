"""The customer file (R1–R5): one person across channels, groups, online hours,
greetings, follow-up campaigns, membership and points, and personal data kept as the
law and buyers expect."""
