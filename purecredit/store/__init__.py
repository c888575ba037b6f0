"""Storage machinery: the lake (Parquet + DuckDB) and the ledger (SQLAlchemy)."""
