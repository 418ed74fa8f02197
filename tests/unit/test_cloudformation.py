"""The AWS template (deploy/cloudformation/stream-cdc.yaml): least privilege and the
settings the job depends on, checked on the template itself (cfn-lint checks the syntax)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "cloudformation" / "stream-cdc.yaml"

# Allow statements that must use Resource "*" because the actions have no resource type
# (AWS's Service Authorization Reference). Keyed by (role, Sid); the value is the exact
# set of actions allowed there, so an exception cannot quietly grow.
RESOURCE_STAR_EXCEPTIONS: dict[tuple[str, str], frozenset[str]] = {
    # Take a statement id, not an ARN; a condition restricts them to the role's own
    # statements (redshift-data:statement-owner-iam-userid).
    ("GlueJobRole", "RedshiftDataApiOwnStatements"): frozenset(
        {
            "redshift-data:DescribeStatement",
            "redshift-data:GetStatementResult",
            "redshift-data:CancelStatement",
        }
    ),
    # No resource type; a condition restricts it to the Glue metrics namespace.
    ("GlueJobRole", "GlueJobMetrics"): frozenset({"cloudwatch:PutMetricData"}),
    # The same, limited to the job's own namespace (the MetricsNamespace parameter).
    ("GlueJobRole", "JobMetrics"): frozenset({"cloudwatch:PutMetricData"}),
    # EC2 Describe* calls have no resource type; Glue makes them to place the job's ENIs.
    ("GlueJobRole", "VpcConnectionDescribe"): frozenset(
        {
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcAttribute",
            "ec2:DescribeVpcEndpoints",
            "ec2:DescribeRouteTables",
        }
    ),
}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation's short tags into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # _CfnLoader is a SafeLoader: it builds plain data only.
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return loaded


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: res["Properties"]
        for name, res in template["Resources"].items()
        if res["Type"] == kind
    }


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = list(_resources(template, kind).values())
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allow_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) of every identity-policy Allow statement."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if res["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        for document in documents:
            for written in _as_list(document["Statement"]):
                statement = _conditional(written)
                if statement["Effect"] == "Allow":
                    yield name, statement


def _conditional(value: Any) -> Any:
    """The value of `!If [Condition, value, !Ref AWS::NoValue]` when its condition holds
    (the template writes no other kind of !If around a statement)."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        assert no == {"Ref": "AWS::NoValue"}, "a conditional statement or nothing"
        return yes
    return value


def test_no_iam_statement_allows_every_action(template: dict[str, Any]) -> None:
    for name, statement in _allow_statements(template):
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{name}: action {action}"
        assert "NotAction" not in statement and "NotResource" not in statement, name


def test_resource_star_only_in_the_listed_exceptions(template: dict[str, Any]) -> None:
    used: set[tuple[str, str]] = set()
    for name, statement in _allow_statements(template):
        if "*" not in _as_list(statement["Resource"]):
            continue
        key = (name, statement.get("Sid", ""))
        assert key in RESOURCE_STAR_EXCEPTIONS, f"{key}: Resource '*' is not an exception"
        assert set(_as_list(statement["Action"])) == RESOURCE_STAR_EXCEPTIONS[key], key
        used.add(key)
    assert used == set(RESOURCE_STAR_EXCEPTIONS), "stale exceptions: remove them from the test"


def test_redshift_data_statement_calls_are_limited_to_the_roles_own_statements(
    template: dict[str, Any],
) -> None:
    statements = {s.get("Sid"): s for _, s in _allow_statements(template)}
    condition = statements["RedshiftDataApiOwnStatements"]["Condition"]["StringEquals"]
    assert condition == {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
    metrics = statements["GlueJobMetrics"]["Condition"]["StringEquals"]
    assert metrics == {"cloudwatch:namespace": "Glue"}
    own = statements["JobMetrics"]["Condition"]["StringEquals"]
    assert own == {"cloudwatch:namespace": {"Ref": "MetricsNamespace"}}


def test_dms_kinesis_role_may_only_write_the_stream(template: dict[str, Any]) -> None:
    role = template["Resources"]["DmsKinesisRole"]["Properties"]
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == {
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:DescribeStream",
    }
    assert statement["Resource"] == {"Fn::GetAtt": ["Stream", "Arn"]}


def test_redshift_copy_role_reads_only_the_staging_prefix(template: dict[str, Any]) -> None:
    role = template["Resources"]["RedshiftCopyRole"]["Properties"]
    [policy] = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert {s["Action"] for s in statements} == {"s3:GetObject", "s3:ListBucket"}
    for statement in statements:
        if statement["Action"] == "s3:GetObject":
            assert statement["Resource"] == {"Fn::Sub": "${Bucket.Arn}/staging/*"}
        else:
            assert statement["Condition"] == {"StringLike": {"s3:prefix": ["staging/*"]}}


def test_glue_job_role_reads_the_stream_without_writing_it(template: dict[str, Any]) -> None:
    actions = {
        action
        for name, statement in _allow_statements(template)
        if name == "GlueJobRole"
        for action in _as_list(statement["Action"])
        if action.startswith("kinesis:")
    }
    assert actions == {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
    }


def test_kinesis_target_sends_the_envelope_the_job_decodes(template: dict[str, Any]) -> None:
    endpoints = _resources(template, "AWS::DMS::Endpoint")
    [target] = [e for e in endpoints.values() if e["EngineName"] == "kinesis"]
    settings = target["KinesisSettings"]
    assert settings["MessageFormat"] == "json"
    for flag in (
        "IncludeTransactionDetails",
        "IncludePartitionValue",
        "IncludeControlDetails",
        "IncludeTableAlterOperations",
        "PartitionIncludeSchemaTable",
    ):
        assert settings.get(flag) is True, flag
    assert settings["StreamArn"] == {"Fn::GetAtt": ["Stream", "Arn"]}
    assert settings["ServiceAccessRoleArn"] == {"Fn::GetAtt": ["DmsKinesisRole", "Arn"]}


def test_dms_source_reads_its_credentials_from_secrets_manager(template: dict[str, Any]) -> None:
    endpoints = _resources(template, "AWS::DMS::Endpoint")
    [source] = [e for e in endpoints.values() if e["EngineName"] == "mysql"]
    assert "Password" not in source and "Username" not in source
    assert set(source["MySqlSettings"]) == {"SecretsManagerSecretId", "SecretsManagerAccessRoleArn"}


def test_replication_task_captures_the_four_sports_tables(template: dict[str, Any]) -> None:
    task = _one(template, "AWS::DMS::ReplicationTask")
    assert task["MigrationType"] == "full-load-and-cdc"
    mappings = json.loads(
        task["TableMappings"]["Fn::Sub"].replace("${SourceDatabaseName}", "sports")
    )
    included = {
        (r["object-locator"]["schema-name"], r["object-locator"]["table-name"])
        for r in mappings["rules"]
        if r["rule-type"] == "selection" and r["rule-action"] == "include"
    }
    assert included == {
        ("sports", "sport_event"),
        ("sports", "ticket"),
        ("sports", "customer"),
        ("sports", "ticket_activity"),
    }


def test_glue_job_is_a_glue_5_streaming_job_with_a_config(template: dict[str, Any]) -> None:
    job = _one(template, "AWS::Glue::Job")
    assert job["Command"]["Name"] == "gluestreaming"
    assert str(job["GlueVersion"]) == "5.0"
    arguments = job["DefaultArguments"]
    # Where `python -m deploy glue --prefix PREFIX --job-name JOB` uploads them.
    artifacts = "s3://${Bucket}/${ArtifactsPrefix}${ProjectName}-sports/"
    assert job["Name"] == {"Fn::Sub": "${ProjectName}-sports"}
    assert job["Command"]["ScriptLocation"] == {"Fn::Sub": artifacts + "stream_cdc.py"}
    assert arguments["--config"] == {"Fn::Sub": artifacts + "${ConfigFileName}"}
    assert arguments["--extra-py-files"] == {"Fn::Sub": artifacts + "stream_cdc.zip"}
    assert arguments["--redshift-secret-arn"] == {"Ref": "RedshiftSecret"}
    assert job["Connections"] == {"Connections": [{"Ref": "GlueConnection"}]}


def test_rds_parameter_group_gives_dms_a_row_binlog(template: dict[str, Any]) -> None:
    group = _one(template, "AWS::RDS::DBParameterGroup")
    assert group["Family"] == "mysql8.0"
    assert group["Parameters"]["binlog_format"] == "ROW"
    assert group["Parameters"]["binlog_row_image"] == "FULL"
    assert group["Parameters"]["binlog_checksum"] == "NONE"
    database = _one(template, "AWS::RDS::DBInstance")
    assert database["DBParameterGroupName"] == {"Ref": "DbParameterGroup"}
    assert int(database["BackupRetentionPeriod"]) >= 1  # no binlog without backups
    assert database["PubliclyAccessible"] is False


def test_passwords_are_generated_secrets_never_literals(template: dict[str, Any]) -> None:
    database = _one(template, "AWS::RDS::DBInstance")
    namespace = _one(template, "AWS::RedshiftServerless::Namespace")
    for value in (database["MasterUserPassword"], namespace["AdminUserPassword"]):
        assert value["Fn::Sub"].startswith("{{resolve:secretsmanager:"), value
    for name, secret in _resources(template, "AWS::SecretsManager::Secret").items():
        assert "SecretString" not in secret, name
        assert "GenerateSecretString" in secret, name


def test_bucket_is_encrypted_private_and_expires_staging(template: dict[str, Any]) -> None:
    bucket = _one(template, "AWS::S3::Bucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(r.get("Prefix") == "staging/" and "ExpirationInDays" in r for r in rules)


def test_no_hard_coded_account_ids_or_regions() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])\d{12}(?![\w.])", text), "a 12-digit account id"
    directions = "north|south|east|west|central|northeast|southeast|northwest|southwest"
    regions = rf"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:{directions})-\d\b"
    assert not re.search(regions, text), "a hard-coded region"


def test_the_templates_glue_job_is_the_one_the_deploy_defines(template: dict[str, Any]) -> None:
    """One definition: the template's job is generated from deploy/glue_job.py."""
    from deploy.cloudformation import glue_job_properties
    from deploy.glue_job import default_arguments

    job = template["Resources"]["GlueJob"]["Properties"]
    generated = yaml.load(yaml.dump(glue_job_properties(), Dumper=_dumper()), Loader=_CfnLoader)
    assert job == generated, "run: python -m deploy cloudformation"
    assert set(job["DefaultArguments"]) >= set(default_arguments(_any_spec())) - {
        "--redshift-secret-arn",
        "--hmac-secret-arn",
    }
    assert "--additional-python-modules" in job["DefaultArguments"]


def _dumper() -> type[yaml.SafeDumper]:
    from deploy import cloudformation

    return cloudformation._Dumper


def _any_spec() -> Any:
    from deploy.glue_job import JobSpec

    return JobSpec(config=Path("c.yaml"), bucket="b", prefix="p/", job_name="j", role="r")


def _stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarm's metrics by id: (namespace, name, dimensions, stat)."""
    return {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}


def _returned(alarm: dict[str, Any]) -> dict[str, Any]:
    returned: list[dict[str, Any]] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert len(returned) == 1, "an alarm returns one series"
    return returned[0]


def test_metrics_parameters_match_the_jobs_defaults(template: dict[str, Any]) -> None:
    from config import CloudWatchMetrics

    parameters = template["Parameters"]
    assert parameters["MetricsNamespace"]["Default"] == CloudWatchMetrics().namespace
    config = yaml.safe_load((TEMPLATE.parents[2] / "conf" / "sports-aws.yaml").read_text())
    assert parameters["JobConfigName"]["Default"] == config["name"]
    assert config.get("metrics", {}).get("cloudwatch", {}).get("enabled") is not False


def test_lag_alarm_reads_the_streams_iterator_age_against_a_parameter(
    template: dict[str, Any],
) -> None:
    alarm = template["Resources"]["SourceLagAlarm"]["Properties"]
    [stat] = _stats(alarm).values()
    assert stat["Metric"] == {
        "Namespace": "AWS/Kinesis",
        "MetricName": "GetRecords.IteratorAgeMilliseconds",
        "Dimensions": [{"Name": "StreamName", "Value": {"Ref": "Stream"}}],
    }
    assert stat["Stat"] == "Maximum"
    assert _returned(alarm)["Expression"] == "iteratorage / 1000"  # seconds, as the parameter
    assert alarm["Threshold"] == {"Ref": "LagAlarmSeconds"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"  # a job that does not read is behind


def test_quarantine_alarm_reads_the_jobs_own_totals_against_a_parameter(
    template: dict[str, Any],
) -> None:
    from runtime.series import SERIES

    job_totals = {s.cloudwatch for s in SERIES if s.job_total}
    alarm = template["Resources"]["QuarantineAlarm"]["Properties"]
    stats = _stats(alarm)
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {
        "RowsQuarantined",
        "RecordsUnrouted",
    }
    for stat in stats.values():
        assert stat["Metric"]["MetricName"] in job_totals  # sent with Job alone
        assert stat["Metric"]["Namespace"] == {"Ref": "MetricsNamespace"}
        assert stat["Metric"]["Dimensions"] == [{"Name": "Job", "Value": {"Ref": "JobConfigName"}}]
        assert stat["Stat"] == "Sum"
    assert _returned(alarm)["Expression"] == "FILL(quarantined, 0) + FILL(unrouted, 0)"
    assert alarm["Threshold"] == {"Ref": "QuarantineAlarmRecords"}
    assert alarm["TreatMissingData"] == "notBreaching"


ICEBERG = {"Fn::Equals": [{"Ref": "TargetKind"}, "iceberg"]}
GLUE_ARN = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"


def _iceberg_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The job role's statements that exist only with an Iceberg target, by Sid."""
    [policy] = template["Resources"]["GlueJobRole"]["Properties"]["Policies"]
    found = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:
            condition, yes, _ = statement["Fn::If"]
            assert condition == "UseIceberg", yes["Sid"]
            found[yes["Sid"]] = yes
    return found


def test_an_iceberg_target_gets_glues_iceberg_and_the_stacks_catalog_only_then(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["UseIceberg"] == ICEBERG
    assert template["Parameters"]["TargetKind"]["Default"] == "redshift"
    arguments = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    formats, no_formats = arguments["--datalake-formats"]["Fn::If"][1:]
    conf, no_conf = arguments["--conf"]["Fn::If"][1:]
    assert formats == "iceberg" and no_formats == no_conf == {"Ref": "AWS::NoValue"}
    settings = dict(c.split("=", 1) for c in conf["Fn::Sub"].split(" --conf "))
    catalog = "spark.sql.catalog.iceberg"
    assert settings["spark.sql.extensions"] == (
        "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    )
    assert settings[f"{catalog}.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert settings[f"{catalog}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert settings[f"{catalog}.warehouse"] == "s3://${Bucket}/iceberg"
    outputs = template["Outputs"]
    assert outputs["IcebergWarehouse"]["Value"] == {"Fn::Sub": "s3://${Bucket}/iceberg"}


def test_the_iceberg_database_is_where_the_jobs_catalog_puts_its_tables(
    template: dict[str, Any],
) -> None:
    from config import AwsConfig, IcebergTarget
    from sinks.iceberg.conf import catalog_settings

    database = template["Resources"]["IcebergDatabase"]
    assert database["Condition"] == "UseIceberg"
    target = IcebergTarget.model_construct(
        catalog="glue", path="s3://${Bucket}/iceberg", namespace="${IcebergDatabaseName}"
    )
    location = catalog_settings(target, AwsConfig()).namespace_location
    assert database["Properties"]["DatabaseInput"] == {
        "Name": {"Ref": "IcebergDatabaseName"},
        "Description": "stream-cdc Iceberg tables",
        "LocationUri": {"Fn::Sub": location},
    }


def test_iceberg_permissions_are_the_glue_catalogs_calls_on_its_database_and_prefix(
    template: dict[str, Any],
) -> None:
    statements = _iceberg_statements(template)
    assert set(statements) == {"IcebergCatalog", "IcebergWarehouse", "IcebergWarehouseList"}
    catalog = statements["IcebergCatalog"]
    assert set(catalog["Action"]) == {
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "glue:UpdateTable",
    }
    assert catalog["Resource"] == [
        {"Fn::Sub": f"{GLUE_ARN}:catalog"},
        {"Fn::Sub": f"{GLUE_ARN}:database/${{IcebergDatabaseName}}"},
        {"Fn::Sub": f"{GLUE_ARN}:table/${{IcebergDatabaseName}}/*"},
    ]
    files = statements["IcebergWarehouse"]
    assert files["Resource"] == {"Fn::Sub": "${Bucket.Arn}/iceberg/${IcebergDatabaseName}/*"}
    assert not {a for a in files["Action"] if not a.startswith("s3:")}
    listing = statements["IcebergWarehouseList"]
    assert (listing["Action"], listing["Resource"]) == (
        "s3:ListBucket",
        {"Fn::GetAtt": ["Bucket", "Arn"]},
    )
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        {"Fn::Sub": "iceberg/${IcebergDatabaseName}"},
        {"Fn::Sub": "iceberg/${IcebergDatabaseName}/*"},
    ]
