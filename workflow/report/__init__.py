"""Reports from the database: completion rates, the weekly report, the ledger, the wall chart.

Every figure is an aggregate computed in SQL; Python only formats the result (and folds the few
permits that moved after a past `--as-of` day, see `completion.py`).
"""
