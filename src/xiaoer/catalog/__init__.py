"""Products, SKUs, stock, promotions."""
