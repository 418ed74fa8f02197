"""Config loading: validation names the key, --set overrides, printing redacts secrets."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, SecretStr

from config import FilesSource, JobConfig, KinesisSource, LakeTarget, RedshiftTarget
from config.load import ConfigError, _redact, load_config, redacted_yaml

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "conf" / "demo.yaml"


def _demo_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return raw


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides or [])
    return str(caught.value)


def test_demo_config_loads() -> None:
    config = load_config(DEMO)

    assert config.name == "cases_demo"
    assert config.source.format == "dms-csv"
    assert config.source.max_files_per_trigger == 2
    table = config.explicit_tables[0]
    assert table.keys == ["oid__id"]
    assert table.partition_by == ["year", "month", "day"]
    assert table.sequence_by == ["prep_flow_runtime"]
    assert table.column_names[:3] == ["oid__id", "case_type", "cases"]
    assert [c.type for c in table.columns or [] if c.name in ("cases", "lat")] == ["int", "double"]


def test_unknown_key_fails_naming_its_dotted_path(tmp_path: Path) -> None:
    raw = _demo_raw()
    raw["tables"][0]["kyes"] = raw["tables"][0].pop("keys")

    message = _error(_write(tmp_path, raw))

    assert "tables.0.kyes: unknown key" in message


def test_a_table_declaring_its_columns_without_keys_fails_at_start_naming_keys() -> None:
    """Keys may come from the source's catalog; with columns declared and no catalog
    (the demo's landing files), they must be declared: the job says so before any read."""
    from runtime.tables import Registry

    config = load_config(DEMO, ["tables.0.keys=null"])
    registry = Registry(config, catalog=None, encode=lambda c: None)  # type: ignore[arg-type,return-value]

    with pytest.raises(ConfigError, match=r"tables\.0\.keys: required"):
        registry.start()


def test_unknown_top_level_key_fails_naming_it(tmp_path: Path) -> None:
    raw = _demo_raw()
    raw["trigger_intreval"] = "1 second"

    assert "trigger_intreval: unknown key" in _error(_write(tmp_path, raw))


def test_wrong_type_fails_naming_the_key() -> None:
    message = _error(DEMO, ["source.max_files_per_trigger=many"])

    assert "source.max_files_per_trigger: Input should be a valid integer" in message


def test_unsupported_column_type_fails_naming_the_column() -> None:
    message = _error(DEMO, ["tables.0.columns.2.type=varchar(10)"])

    assert "tables.0.columns.2.type:" in message
    assert "unsupported type 'varchar(10)'" in message


def test_keys_not_among_columns_fails() -> None:
    message = _error(DEMO, ["tables.0.keys=[oid_id]"])

    assert "tables.0: " in message
    assert "keys: ['oid_id'] not among columns" in message


def test_partition_by_not_among_columns_fails() -> None:
    message = _error(DEMO, ["tables.0.partition_by=[year, week]"])

    assert "tables.0: " in message
    assert "partition_by: ['week'] not among columns" in message


def test_set_overrides_a_nested_value() -> None:
    config = load_config(DEMO, ["target.path=/tmp/elsewhere", "source.csv.delimiter=;"])

    assert isinstance(config.target, LakeTarget)
    assert config.target.path == "/tmp/elsewhere"
    assert isinstance(config.source, FilesSource)
    assert config.source.csv.delimiter == ";"


def test_target_kind_selects_the_warehouse_model_and_reads_the_password_from_env_at_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = [
        "target={kind: redshift, dialect: postgres, host: 127.0.0.1, port: 5433,"
        " database: warehouse, user: warehouse, password_env: WAREHOUSE_PW}"
    ]
    monkeypatch.delenv("WAREHOUSE_PW", raising=False)
    config = load_config(DEMO, target)
    assert isinstance(config.target, RedshiftTarget)
    with pytest.raises(ConfigError, match=r"target\.password_env: .*WAREHOUSE_PW is not set"):
        config.warehouse_password()
    monkeypatch.setenv("WAREHOUSE_PW", "s3cret-value")
    config = load_config(DEMO, target)
    monkeypatch.delenv("WAREHOUSE_PW")  # read once, at load
    assert config.warehouse_password().get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in redacted_yaml(config)
    assert "s3cret-value" not in repr(config.secrets)


def test_set_overrides_through_a_list_index() -> None:
    config = load_config(
        DEMO, ["tables.0.columns.2.type=bigint", "tables.0.sequence_by=[prep_flow_runtime, cases]"]
    )

    assert (config.explicit_tables[0].columns or [])[2].name == "cases"
    assert (config.explicit_tables[0].columns or [])[2].type == "bigint"
    assert config.explicit_tables[0].sequence_by == ["prep_flow_runtime", "cases"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tables.1.name=x", "--set tables.1.name: '1' is not an index of a 1-item list"),
        ("tables.first.name=x", "--set tables.first.name: 'first' is not an index"),
        ("name.x=1", "--set name.x: 'x' is below a value, not a mapping"),
        ("target.path", "--set 'target.path': expected key=value"),
    ],
)
def test_bad_set_override_fails_with_a_message_naming_it(override: str, message: str) -> None:
    assert message in _error(DEMO, [override])


def test_missing_config_file_fails(tmp_path: Path) -> None:
    assert "config file not found" in _error(tmp_path / "absent.yaml")


def test_redacted_yaml_round_trips_to_the_same_config() -> None:
    config = load_config(DEMO)

    reloaded = JobConfig.model_validate(yaml.safe_load(redacted_yaml(config)))

    assert reloaded == config


class _Credentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: str
    password: SecretStr


class _JobWithSecrets(JobConfig):
    """A JobConfig with secrets nested in a model, a list, a mapping and a tuple."""

    credentials: _Credentials
    replicas: list[_Credentials]
    tokens: dict[str, SecretStr]
    fallback: tuple[str, SecretStr]


SECRETS = ("pw-primary", "pw-replica", "tok-api", "tok-fallback")


def _with_secrets() -> _JobWithSecrets:
    raw = _demo_raw()
    raw["credentials"] = {"user": "etl", "password": SECRETS[0]}
    raw["replicas"] = [{"user": "ro", "password": SECRETS[1]}]
    raw["tokens"] = {"api": SECRETS[2]}
    raw["fallback"] = ["svc", SECRETS[3]]
    return _JobWithSecrets.model_validate(raw)


def test_redacted_yaml_hides_nested_secrets_and_keeps_other_values() -> None:
    text = redacted_yaml(_with_secrets())

    for secret in SECRETS:
        assert secret not in text
    printed = yaml.safe_load(text)
    assert printed["credentials"] == {"user": "etl", "password": "***"}
    assert printed["replicas"] == [{"user": "ro", "password": "***"}]
    assert printed["tokens"] == {"api": "***"}
    assert printed["fallback"] == ["svc", "***"]
    assert printed["tables"][0]["keys"] == ["oid__id"]


def test_redact_leaves_no_secret_value_anywhere() -> None:
    def secrets_in(value: object) -> list[SecretStr]:
        if isinstance(value, SecretStr):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in secrets_in(v)]
        if isinstance(value, list | tuple | set):
            return [s for v in value for s in secrets_in(v)]
        return []

    dumped = _with_secrets().model_dump()
    assert len(secrets_in(dumped)) == 4

    assert secrets_in(_redact(dumped)) == []


def test_kind_may_be_omitted_for_files_source_and_lake_target(tmp_path: Path) -> None:
    raw = _demo_raw()
    del raw["source"]["kind"]
    del raw["target"]["kind"]

    config = load_config(_write(tmp_path, raw))

    assert isinstance(config.source, FilesSource)
    assert isinstance(config.target, LakeTarget)


def test_unknown_kind_fails_naming_the_key_and_the_kinds() -> None:
    message = _error(DEMO, ["target.kind=warehouse"])

    assert "target" in message
    assert "'lake', 'redshift'" in message


def test_protect_rule_on_an_unknown_column_fails() -> None:
    message = _error(DEMO, ["tables.0.protect={e_mail: hmac}"])

    assert "protect: ['e_mail'] not among columns" in message


def test_protect_rule_must_be_mask_hmac_or_sha256() -> None:
    message = _error(DEMO, ["tables.0.protect={case_type: encrypt}"])

    assert "tables.0.protect.case_type:" in message
    assert "'mask', 'hmac' or 'sha256'" in message


def test_privacy_key_is_read_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MY_TOKEN_KEY", raising=False)
    config = load_config(DEMO, ["privacy.hmac_key_env=MY_TOKEN_KEY"])
    assert config.secrets.get("MY_TOKEN_KEY") is None
    monkeypatch.setenv("MY_TOKEN_KEY", "k-1")
    config = load_config(DEMO, ["privacy.hmac_key_env=MY_TOKEN_KEY"])
    key = config.secrets.get("MY_TOKEN_KEY")
    assert key is not None and key.get_secret_value() == "k-1"
    assert config.tokenization_key() == "k-1"
    assert "k-1" not in redacted_yaml(config)


SPORTS = DEMO.parent / "sports.yaml"
# The same pipeline with every table declared column by column (as DMS writes them): its
# denormalized table can be checked when the config is loaded, without the source.
DECLARED = DEMO.parents[1] / "tests" / "fixtures" / "sports-declared.yaml"


def test_sports_config_denormalizes_the_seed_target_table() -> None:
    config = load_config(SPORTS)

    (activity,) = config.denormalize
    assert activity.name == "sport_event_activity"
    assert [r.table for r in activity.tables] == [
        "ticket_activity",
        "ticket",
        "sport_event",
        "customer",
    ]
    assert list(activity.columns)[:3] == ["ticket_id", "event_id", "sport_type"]
    assert [d.name for d in config.denormalized_by("customer")] == ["sport_event_activity"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("denormalize.0.joins.0.table=tickets", "denormalize.0.joins.0.table: 'tickets' is not"),
        ("denormalize.0.joins.0.key={event_id: a.ticket_id}", "must name exactly the keys"),
        ("denormalize.0.joins.1.key={event_id: c.event_id}", "alias 'c' is not defined before"),
        ("denormalize.0.columns.name=c.nom", "denormalize.0.columns.name: 'nom' is not a column"),
        ("denormalize.0.columns.name=name", "'name' is not alias.column"),
        ("denormalize.0.columns.ticket_id=t.ticket_id", "the fact's key must be kept"),
        ("denormalize.0.joins.2.as=t", "alias 't' is used twice"),
        ("denormalize.0.name=customer", "'customer' is already a replicated table"),
    ],
)
def test_denormalize_mistakes_fail_naming_the_key(override: str, message: str) -> None:
    assert message in _error(DECLARED, [override])


def test_denormalize_needs_a_warehouse_target() -> None:
    message = _error(SPORTS, ["target={kind: lake, path: /tmp/lake}"])

    assert "denormalize: needs target kind redshift" in message


def test_an_hmac_rule_without_its_key_fails_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    config = load_config(SPORTS, ["privacy.hmac_key_env=NO_SUCH_KEY_VAR"])

    with pytest.raises(ConfigError, match=r"tables\[customer\].protect needs a tokenization key"):
        config.tokenization_key()
    monkeypatch.setenv("NO_SUCH_KEY_VAR", "k")
    config = load_config(SPORTS, ["privacy.hmac_key_env=NO_SUCH_KEY_VAR"])
    assert config.tokenization_key() == "k"


def test_scd_type_2_is_accepted_for_delta_iceberg_and_warehouse_targets() -> None:
    config = load_config(DEMO, ["target.kind=delta", "tables.0.scd_type=2"])
    assert config.explicit_tables[0].scd_type == 2
    iceberg = load_config(DEMO, ["target.kind=iceberg", "target.path=/w", "tables.0.scd_type=2"])
    assert iceberg.explicit_tables[0].scd_type == 2
    warehouse = load_config(DECLARED, ["denormalize=[]", "tables.0.scd_type=2"])
    assert warehouse.explicit_tables[0].scd_type == 2


def test_scd_type_2_on_the_lake_fails_naming_the_table() -> None:
    message = _error(DEMO, ["tables.0.scd_type=2"])

    assert "tables.0.scd_type: 2 needs target kind delta, iceberg or redshift" in message


def test_scd_type_2_cannot_feed_a_denormalized_table() -> None:
    message = _error(DECLARED, ["tables.3.scd_type=2"])

    assert (
        "tables.3.scd_type: 2 cannot feed denormalized tables ['sport_event_activity']" in message
    )


def test_scd_type_must_be_1_or_2() -> None:
    assert "tables.0.scd_type:" in _error(DEMO, ["tables.0.scd_type=3"])


def test_scd_type_2_refuses_columns_named_like_its_own() -> None:
    message = _error(
        DEMO, ["target.kind=delta", "tables.0.scd_type=2", "tables.0.derived.0.name=valid_from"]
    )

    assert "scd_type 2 adds its own columns; rename ['valid_from']" in message


_WAREHOUSE = "target={kind: redshift, database: dev, "


def test_redshift_with_s3_staging_and_the_data_api_needs_no_host_or_password() -> None:
    config = load_config(
        DEMO,
        [
            _WAREHOUSE + "staging: {kind: s3, path: s3://bucket/cdc, "
            "iam_role: 'arn:aws:iam::123456789012:role/copy'}, "
            "connection: {kind: data-api, workgroup: cdc-wg}}"
        ],
    )

    assert isinstance(config.target, RedshiftTarget)
    assert config.target.staging.kind == "s3"
    assert config.target.connection.kind == "data-api"
    assert config.target.host is None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("host: h, user: u}", "Amazon Redshift cannot COPY FROM STDIN"),
        (
            "dialect: postgres, host: h, user: u, staging: {kind: s3, path: s3://bkt/p, "
            "iam_role: 'arn:aws:iam::123456789012:role/copy'}}",
            "kind s3 needs dialect redshift",
        ),
        (
            "host: h, user: u, staging: {kind: s3, path: s3://bkt/p, iam_role: not-an-arn}}",
            "target.staging.iam_role",
        ),
        (
            "staging: {kind: s3, path: s3://bkt/p, iam_role: 'arn:aws:iam::123456789012:role/c'},"
            " connection: {kind: data-api, cluster_id: c1}}",
            "a cluster_id needs exactly one of db_user and secret_arn",
        ),
        (
            "staging: {kind: s3, path: s3://bkt/p, iam_role: 'arn:aws:iam::123456789012:role/c'},"
            " connection: {kind: data-api, workgroup: wg1, cluster_id: c1}}",
            "exactly one of workgroup and cluster_id",
        ),
        (
            "staging: {kind: s3, path: s3://bkt/p, iam_role: 'arn:aws:iam::123456789012:role/c'}}",
            "host and user are required with a driver connection",
        ),
    ],
)
def test_warehouse_staging_and_connection_mistakes_fail_naming_them(
    target: str, message: str
) -> None:
    assert message in _error(DEMO, [_WAREHOUSE + target])


def test_the_aws_sports_config_is_valid_once_the_stack_outputs_are_filled_in() -> None:
    outputs = {
        "__BUCKET__": "stream-cdc-123456789012-us-east-1",
        "__REGION__": "us-east-1",
        "__STREAM__": "stream-cdc-changes",
        "__WORKGROUP_HOST__": "wg.123456789012.us-east-1.redshift-serverless.amazonaws.com",
        "__COPY_ROLE_ARN__": "arn:aws:iam::123456789012:role/stream-cdc-redshift-copy-us-east-1",
    }
    text = (REPO / "conf" / "sports-aws.yaml").read_text(encoding="utf-8")
    for placeholder, value in outputs.items():
        assert placeholder in text
        text = text.replace(placeholder, value)

    config = JobConfig.model_validate(yaml.safe_load(text))

    assert isinstance(config.source, KinesisSource)
    assert isinstance(config.target, RedshiftTarget)
    assert config.target.dialect == "redshift"
    assert config.checkpoint.startswith("s3://")
    assert [t.name for t in config.explicit_tables] == [
        t.name for t in load_config(DECLARED).explicit_tables
    ]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("source={kind: kinesis, stream: 'bad name!'}", "  source.stream:"),
        ("source={kind: kafka, bootstrap_servers: b}", "  source.topic_prefix:"),
        ("target={kind: delta, path: p, state_dir: cdc}", "  target:"),
        ("target={kind: delta, path: p, max_records_per_file: 0}", "target.max_records_per_file:"),
        (
            "target={kind: iceberg, path: p, target_file_size_mb: 0}",
            "target.target_file_size_mb: Input should be greater than 0",
        ),
        (
            "target={kind: redshift, database: d, connection: {kind: data-api, workgroup: w}}",
            "  target.connection.workgroup:",
        ),
    ],
)
def test_errors_of_every_kind_name_the_key_without_the_union_tag(override: str, key: str) -> None:
    message = _error(DEMO, [override])

    assert key in message
    tags = ("files", "kafka", "kinesis", "lake", "delta", "iceberg", "redshift", "data-api", "s3")
    for tag in tags:
        assert f".{tag}." not in message and f".{tag}:" not in message


def test_source_schema_and_table_names_that_could_break_out_of_sql_are_refused() -> None:
    for bad in ("public`; DROP TABLE x", "a.b", "a b", "x'"):
        assert "tables.0.source_schema:" in _error(DEMO, [f"tables.0.source_schema={bad!r}"])
    assert "tables.0.source_table:" in _error(DEMO, ["tables.0.source_table='t/../u'"])


def test_the_config_reference_in_docs_is_the_one_the_models_generate() -> None:
    from config.reference import SECTIONS, render

    committed = (DEMO.parents[1] / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m config.reference > docs/config.md"
    described = [
        f"{prefix}{field.alias or name}"
        for _, prefix, model in SECTIONS
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert described == [], "every config key has a description"


def test_the_reference_shows_kind_as_required_exactly_where_leaving_it_out_fails(
    tmp_path: Path,
) -> None:
    """A source without `kind` is files and a target without it a lake; every other source
    or target, and a `staging` or `connection` mapping, must name its kind. The reference
    says so, and the loader agrees."""
    from config.reference import render

    rows = [line for line in render().splitlines() if line.startswith("| `") and ".kind`" in line]
    shown = {line.split("|")[1].strip() + " " + line.split("|")[3].strip(): line for line in rows}
    implied = [k for k, line in shown.items() if "| required |" not in line]
    assert sorted(implied) == [
        "`source.kind` DMS landing files",
        "`target.kind` the partition-rewrite Parquet lake",
    ]

    raw = _demo_raw()
    del raw["source"]["kind"]
    assert load_config(_write(tmp_path, raw)).source.kind == "files"
    raw = _demo_raw()
    raw["source"] = {"topics": ["app.x"], "bootstrap_servers": "127.0.0.1:9092"}
    assert "source.topics: unknown key" in _error(_write(tmp_path, raw))  # read as files
    raw = _demo_raw()
    raw["target"] = {"kind": "redshift", "host": "h", "user": "u", "database": "d", "staging": {}}
    assert "staging" in _error(_write(tmp_path, raw))
