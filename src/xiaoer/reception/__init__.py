"""Live reception: conversations, messages, routing, auto-replies, quick phrases, SLA."""
