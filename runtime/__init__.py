"""Wiring: Spark session, one streaming query per table, per-batch metrics, summary."""
