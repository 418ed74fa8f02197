"""Staged merges into a warehouse table: Amazon Redshift, or PostgreSQL locally."""

from sinks.redshift.dialect import Dialect, PostgresDialect, RedshiftDialect
from sinks.redshift.engine import WarehouseEngine

__all__ = ["Dialect", "PostgresDialect", "RedshiftDialect", "WarehouseEngine"]
