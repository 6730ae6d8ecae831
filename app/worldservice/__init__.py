"""WorldService: rebalance planning, applied plans, allocations and their events."""
