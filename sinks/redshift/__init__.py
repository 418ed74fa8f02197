"""Staged merges into a warehouse table: Amazon Redshift, or PostgreSQL locally."""

from sinks.redshift.connection import ConnectionSettings
from sinks.redshift.dialect import Dialect, PostgresDialect, RedshiftDialect
from sinks.redshift.engine import WarehouseEngine

__all__ = ["ConnectionSettings", "Dialect", "PostgresDialect", "RedshiftDialect", "WarehouseEngine"]
