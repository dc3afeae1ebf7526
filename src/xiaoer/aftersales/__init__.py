"""After-sales (S1–S7): refunds, returns and exchanges, complaints, reviews, causes."""
