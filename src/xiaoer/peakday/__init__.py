"""Peak day (D1–D3, C6, C11): the forecast from the shop's own history, the staffing
it needs by Erlang C and A, peak mode switched on and off on time, the activities every
agent must know and quote correctly, the shop's targets, and a load rehearsal that
shows before the day whether the system holds."""
