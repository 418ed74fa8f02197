"""A whole job: one source, its tables, one target, and what surrounds them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Discriminator, Field, PrivateAttr, SecretStr, Tag, model_validator

from config.aws import AwsConfig
from config.base import ConfigError, Identifier, Strict
from config.denormalize import DenormalizedTable, check_denormalized
from config.metrics import MetricsConfig
from config.privacy import PrivacyConfig, Tokenization, is_email_like, key_bytes
from config.secrets import Secrets
from config.sources import Source
from config.tables import TableConfig, TablePattern
from config.targets import IcebergTarget, LakeTarget, RedshiftTarget, Target

__all__ = ["JobConfig", "PrivacyConfig", "QuarantineConfig"]


class QuarantineConfig(Strict):
    """Where undecodable records go, with the reason; holds raw data: protect it."""

    path: str = Field(
        min_length=1, description="rejected records go to <path>/<table>/batch_id=<n>/"
    )


def _entry_kind(value: Any) -> str:
    """A `tables` entry is a pattern when it has `include`, else one table."""
    if isinstance(value, dict):
        return "pattern" if "include" in value else "table"
    return "pattern" if isinstance(value, TablePattern) else "table"


TableEntry = Annotated[
    Annotated[TableConfig, Tag("table")] | Annotated[TablePattern, Tag("pattern")],
    Discriminator(_entry_kind),
]


class JobConfig(Strict):
    """A whole job: one source, its tables, one target."""

    name: Identifier = Field(
        default="stream_cdc", description="job name (Spark app name, query names)"
    )
    checkpoint: str = Field(
        min_length=1,
        description="checkpoint root; a new checkpoint is a new writer (see Reprocessing)",
    )
    trigger_interval: str = Field(
        default="10 seconds", description="micro-batch interval when not --once"
    )
    parallel_tables: int = Field(
        default=4,
        ge=1,
        le=64,
        description="tables of one batch decoded and applied at the same time (Spark runs "
        "their jobs side by side; into PostgreSQL the warehouse stages every table in one "
        "Spark job)",
    )
    source: Source = Field(description="where the changes come from; kind: files|kafka|kinesis")
    tables: list[TableEntry] = Field(
        min_length=1,
        description="the replicated tables: explicit entries ({name, ...}) and patterns "
        "({include, exclude}) on schema.table; an explicit entry overrides what a pattern "
        "discovers",
    )
    target: Target = Field(
        description="where the tables are kept; kind: lake|delta|iceberg|redshift"
    )
    quarantine: QuarantineConfig = Field(description="where rejected records go")
    privacy: PrivacyConfig = Field(
        default=PrivacyConfig(), description="tokenization key and how values are tokenized"
    )
    aws: AwsConfig = Field(default=AwsConfig(), description="where the AWS APIs answer")
    metrics: MetricsConfig = Field(
        default=MetricsConfig(), description="Prometheus endpoint and CloudWatch metrics"
    )
    denormalize: list[DenormalizedTable] = Field(
        default_factory=list,
        description="warehouse tables joining a fact to its dimensions (redshift target)",
    )

    _secrets: Secrets = PrivateAttr(default_factory=Secrets)

    @property
    def explicit_tables(self) -> list[TableConfig]:
        """The tables the config names one by one (patterns add the others at start)."""
        return [t for t in self.tables if isinstance(t, TableConfig)]

    @model_validator(mode="after")
    def _unique_tables(self) -> JobConfig:
        names = [t.name for t in self.explicit_tables]
        if len(set(names)) != len(names):
            raise ValueError(f"tables: duplicate table names in {names}")
        return self

    @model_validator(mode="after")
    def _denormalized_tables_resolve(self) -> JobConfig:
        """Checked now when every table it names declares its columns; otherwise once the
        tables are discovered, at start (runtime/tables.py), with the same messages."""
        if self.denormalize and not isinstance(self.target, RedshiftTarget):
            raise ValueError("denormalize: needs target kind redshift (the lake does not join)")
        tables = {t.name: t for t in self.explicit_tables}
        declared = {n for n, t in tables.items() if t.columns is not None and t.keys}
        patterns = any(isinstance(t, TablePattern) for t in self.tables)
        for i, spec in enumerate(self.denormalize):
            named = {ref.table for ref in spec.tables}
            if named <= declared or (not patterns and not named <= set(tables)):
                check_denormalized(spec, tables, taken=set(tables), where=f"denormalize.{i}")
        names = [d.name for d in self.denormalize]
        if len(set(names)) != len(names):
            raise ValueError(f"denormalize: duplicate names in {names}")
        return self

    @model_validator(mode="after")
    def _one_partitioning(self) -> JobConfig:
        if not isinstance(self.target, IcebergTarget):
            return self
        for i, table in enumerate(self.tables):
            if not isinstance(table, TableConfig):
                continue
            if table.name in self.target.partition_transforms and table.partition_by:
                raise ValueError(
                    f"tables.{i}.partition_by: {table.name} has target.partition_transforms; "
                    "set one of them"
                )
        return self

    @model_validator(mode="after")
    def _glue_table_names(self) -> JobConfig:
        """A Glue table's name is lower case (Iceberg's GlueCatalog refuses others); tables
        a pattern discovers are checked by it when created. 245: the key table adds 10."""
        if not isinstance(self.target, IcebergTarget) or self.target.catalog != "glue":
            return self
        for i, table in enumerate(self.explicit_tables):
            if not re.fullmatch(r"[a-z0-9_]{1,245}", table.name):
                raise ValueError(
                    f"tables.{i}.name: {table.name!r} cannot be a Glue table "
                    "(catalog glue: lower case letters, digits and _)"
                )
        return self

    @model_validator(mode="after")
    def _history_needs_an_engine_that_keeps_it(self) -> JobConfig:
        for i, table in enumerate(self.tables):
            if not isinstance(table, TableConfig):
                continue
            if table.scd_type == 2 and isinstance(self.target, LakeTarget):
                raise ValueError(
                    f"tables.{i}.scd_type: 2 needs target kind delta, iceberg or redshift "
                    f"({self.target.kind} keeps the most recent view only)"
                )
            fed = [d.name for d in self.denormalized_by(table.name)]
            if table.scd_type == 2 and fed:
                raise ValueError(
                    f"tables.{i}.scd_type: 2 cannot feed denormalized tables {fed} "
                    "(they join the latest state of each table)"
                )
        return self

    # ------------------------------------------------------------------ secrets

    @property
    def secret_variables(self) -> list[str]:
        """The environment variables this config takes secrets from."""
        names = [self.privacy.hmac_key_env]
        if isinstance(self.target, RedshiftTarget):
            names.append(self.target.password_env)
        database = getattr(self.source, "database", None)
        if database is not None:
            names.append(database.password_env)
        return names

    @property
    def secrets(self) -> Secrets:
        return self._secrets

    def with_secrets(self, secrets: Secrets) -> JobConfig:
        """This config with its secrets resolved (load_config does it once)."""
        copy = self.model_copy()
        copy._secrets = secrets
        return copy

    def warehouse_password(self) -> SecretStr:
        assert isinstance(self.target, RedshiftTarget), "only a warehouse has a password"
        return self._secrets.require(self.target.password_env, "target.password_env")

    def source_password(self) -> SecretStr:
        database = getattr(self.source, "database", None)
        assert database is not None, "only a source with a database has a password"
        variable = database.password_env
        return self._secrets.require(variable, "source.database.password_env")

    def tokenization_key(self) -> str | None:
        """The HMAC key, or a ConfigError if a table's `hmac` rule needs it and it is unset."""
        key = self._secrets.get(self.privacy.hmac_key_env)
        for table in self.explicit_tables:
            if "hmac" in table.protect.values() and key is None:
                raise ConfigError(
                    f"tables[{table.name}].protect needs a tokenization key: set the "
                    f"environment variable {self.privacy.hmac_key_env}"
                )
        return key.get_secret_value() if key else None

    def tokenization(self) -> Tokenization:
        """The key bytes (per `privacy.key_format`) and the value rules, for `protect`."""
        self.tokenization_key()  # refuses a missing key that a table needs
        secret = self._secrets.get(self.privacy.hmac_key_env)
        variable = self.privacy.hmac_key_env
        return Tokenization(
            key=key_bytes(secret, self.privacy.key_format, variable) if secret else None,
            empty_as_null=self.privacy.empty_as_null,
            normalize_emails=self.privacy.normalize_emails,
        )

    def privacy_notices(self) -> list[str]:
        """Defaults that changed the tokens of earlier versions, while the config relies on
        them without saying so (set the key to silence the notice)."""
        tokenized = {
            column
            for table in self.explicit_tables
            for column, rule in table.protect.items()
            if rule in ("hmac", "sha256")
        }
        chosen = self.privacy.model_fields_set
        notices = []
        if tokenized and "empty_as_null" not in chosen:
            notices.append(
                "privacy.empty_as_null is not set: empty values now tokenize to NULL "
                "(earlier versions: one shared token); set it to true or false to say "
                "which (docs/operations.md, Tokenization)"
            )
        emails = sorted(c for c in tokenized if is_email_like(c))
        if emails and "normalize_emails" not in chosen:
            notices.append(
                f"privacy.normalize_emails is not set: column(s) {', '.join(emails)} are now "
                "trimmed and lower-cased before tokenizing (earlier versions: as written); set "
                "it to true or false to say which (docs/operations.md, Tokenization)"
            )
        return notices

    def denormalized_by(self, table: str) -> list[DenormalizedTable]:
        """The denormalized tables that `table` feeds."""
        return [d for d in self.denormalize if table in {r.table for r in d.tables}]
