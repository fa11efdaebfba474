"""Storage: tables, transactions, migrations and the set-based queries."""
