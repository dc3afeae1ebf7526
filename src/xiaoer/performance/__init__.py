"""Performance and pay: violations, KPIs, payroll, promotion (REQUIREMENTS P1–P8)."""
