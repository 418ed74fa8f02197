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

from tests.unit import cfn_stack

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
    assert arguments["--redshift-secret-arn"] == {
        "Fn::If": ["UseRedshift", {"Ref": "RedshiftSecret"}, {"Ref": "AWS::NoValue"}]
    }
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


def _target_statements(template: dict[str, Any], condition: str) -> dict[str, dict[str, Any]]:
    """The job role's statements that exist only under `condition`, by Sid."""
    [policy] = template["Resources"]["GlueJobRole"]["Properties"]["Policies"]
    found = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:
            written, yes, _ = statement["Fn::If"]
            assert written in ("UseIceberg", "UseRedshift"), yes["Sid"]
            if written == condition:
                found[yes["Sid"]] = yes
    return found


def _iceberg_statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The job role's statements that exist only with an Iceberg target, by Sid."""
    return _target_statements(template, "UseIceberg")


def test_an_iceberg_target_gets_glues_iceberg_and_the_stacks_catalog_only_then(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["UseIceberg"] == ICEBERG
    assert template["Parameters"]["TargetKind"]["Default"] == "redshift"
    arguments = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    formats, no_formats = arguments["--datalake-formats"]["Fn::If"][1:]
    conf, redshift_conf = arguments["--conf"]["Fn::If"][1:]
    assert formats == "iceberg" and no_formats == {"Ref": "AWS::NoValue"}
    assert redshift_conf == "spark.sql.codegen.cache.maxEntries=2000"  # every job has it
    settings = dict(c.split("=", 1) for c in conf["Fn::Sub"].split(" --conf "))
    assert settings["spark.sql.codegen.cache.maxEntries"] == "2000"
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


# ------------------------------------------------------------ what each TargetKind creates
# cfn_stack resolves the template as CloudFormation does for given parameters: a resource
# of the Redshift target that lost its condition would be in the Iceberg stack, and an
# unconditional reference to one would dangle there.

NETWORKS = ("nat", "endpoints")
# What the stack makes for a Redshift target only (besides the Data API endpoint, which
# exists in endpoints mode only).
REDSHIFT_RESOURCES = {
    "RedshiftSecurityGroup",
    "RedshiftIngressFromGlue",
    "RedshiftIngressFromClient",
    "GlueToRedshiftEgress",
    "ClientToRedshiftEgress",
    "RedshiftSecret",
    "RedshiftCopyRole",
    "RedshiftNamespace",
    "RedshiftWorkgroup",
}
REDSHIFT_OUTPUTS = {
    "WorkgroupName",
    "WorkgroupEndpoint",
    "RedshiftDatabase",
    "RedshiftCopyRoleArn",
    "RedshiftSecretArn",
}
REDSHIFT_SERVICES = ("redshift", "redshift-data", "redshift-serverless")


def _job_statements(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The job role's statements in a resolved stack, by Sid."""
    [policy] = stack["Resources"]["GlueJobRole"]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def _actions(stack: dict[str, Any]) -> set[str]:
    """Every action any role or policy of a resolved stack allows."""
    return {
        action
        for _, statement in _allow_statements({"Resources": stack["Resources"]})
        for action in _as_list(statement["Action"])
    }


def _rules_on_port(resources: dict[str, Any], port: int) -> set[str]:
    """Security groups and rules (separate or inline) opening exactly `port`."""
    found = set()
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        rules = [props] if resource["Type"].startswith("AWS::EC2::SecurityGroup") else []
        rules += props.get("SecurityGroupIngress", []) + props.get("SecurityGroupEgress", [])
        if any(rule.get("FromPort") == rule.get("ToPort") == port for rule in rules):
            found.add(name)
    return found


@pytest.mark.parametrize("network", NETWORKS)
def test_an_iceberg_stack_has_no_redshift_resource_permission_or_argument(
    template: dict[str, Any], network: str
) -> None:
    stack = cfn_stack.stack(template, TargetKind="iceberg", NetworkMode=network)
    resources = stack["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert not {k for k in kinds if k.startswith("AWS::RedshiftServerless::")}
    assert not {n for n in resources if "redshift" in n.lower()}
    assert not _rules_on_port(resources, 5439)
    services = [
        str(r["Properties"]["ServiceName"])
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]
    assert services and not [s for s in services if "redshift" in s]
    assert not {a for a in _actions(stack) if a.split(":")[0] in REDSHIFT_SERVICES}
    statements = _job_statements(stack)
    assert statements["ReadJobSecrets"]["Resource"] == [{"Ref": "HmacKeySecret"}]
    assert "staging" not in json.dumps(statements)  # Redshift's COPY input
    arguments = resources["GlueJob"]["Properties"]["DefaultArguments"]
    assert not [a for a in arguments if "redshift" in a]
    assert arguments["--datalake-formats"] == "iceberg"
    assert not {o for o in stack["Outputs"] if "redshift" in o.lower() or "workgroup" in o.lower()}
    assert set(_iceberg_statements(template)) <= set(statements)


@pytest.mark.parametrize("network", NETWORKS)
def test_a_redshift_stack_has_the_warehouse_and_the_jobs_access_to_it(
    template: dict[str, Any], network: str
) -> None:
    stack = cfn_stack.stack(template, TargetKind="redshift", NetworkMode=network)
    resources = stack["Resources"]
    data_endpoint = {"RedshiftDataEndpoint"} if network == "endpoints" else set()
    assert {n for n in resources if "redshift" in n.lower()} == REDSHIFT_RESOURCES | data_endpoint
    assert resources["RedshiftNamespace"]["Type"] == "AWS::RedshiftServerless::Namespace"
    assert resources["RedshiftWorkgroup"]["Type"] == "AWS::RedshiftServerless::Workgroup"
    assert _rules_on_port(resources, 5439) == {
        "GlueToRedshiftEgress",
        "ClientToRedshiftEgress",
        "RedshiftIngressFromGlue",
        "RedshiftIngressFromClient",
    }
    statements = _job_statements(stack)
    on_workgroup = statements["RedshiftDataApiOnTheWorkgroup"]
    assert on_workgroup["Resource"] == {
        "Fn::GetAtt": ["RedshiftWorkgroup", "Workgroup.WorkgroupArn"]
    }
    assert {a for a in _actions(stack) if a.startswith("redshift-data:")} == {
        "redshift-data:ExecuteStatement",
        "redshift-data:BatchExecuteStatement",
        "redshift-data:DescribeStatement",
        "redshift-data:GetStatementResult",
        "redshift-data:CancelStatement",
    }
    assert statements["ReadJobSecrets"]["Resource"] == [
        {"Ref": "RedshiftSecret"},
        {"Ref": "HmacKeySecret"},
    ]
    assert {"Fn::Sub": "${Bucket.Arn}/staging/*"} in statements["ReadWriteJobPrefixes"]["Resource"]
    listed = statements["ListJobPrefixes"]["Condition"]["StringLike"]["s3:prefix"]
    assert "staging" in listed and "staging/*" in listed
    arguments = resources["GlueJob"]["Properties"]["DefaultArguments"]
    assert arguments["--redshift-secret-arn"] == {"Ref": "RedshiftSecret"}
    assert "--datalake-formats" not in arguments
    assert arguments["--conf"] == "spark.sql.codegen.cache.maxEntries=2000"  # nothing else
    assert set(stack["Outputs"]) >= REDSHIFT_OUTPUTS
    assert "IcebergDatabase" not in resources
    assert not set(_iceberg_statements(template)) & set(statements)


@pytest.mark.parametrize("network", NETWORKS)
def test_the_targets_stacks_differ_only_in_each_targets_own_resources(
    template: dict[str, Any], network: str
) -> None:
    redshift = cfn_stack.stack(template, TargetKind="redshift", NetworkMode=network)
    iceberg = cfn_stack.stack(template, TargetKind="iceberg", NetworkMode=network)
    data_endpoint = {"RedshiftDataEndpoint"} if network == "endpoints" else set()
    assert set(iceberg["Resources"]) == (
        set(redshift["Resources"]) - REDSHIFT_RESOURCES - data_endpoint | {"IcebergDatabase"}
    )
    assert set(iceberg["Outputs"]) == (
        set(redshift["Outputs"]) - REDSHIFT_OUTPUTS | {"IcebergDatabase", "IcebergWarehouse"}
    )
    redshift_only = set(_target_statements(template, "UseRedshift"))
    assert redshift_only == {"RedshiftDataApiOnTheWorkgroup", "RedshiftDataApiOwnStatements"}
    assert set(_job_statements(iceberg)) == (
        set(_job_statements(redshift)) - redshift_only | set(_iceberg_statements(template))
    )


@pytest.mark.parametrize("target", ["redshift", "iceberg"])
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("dms_vpc_role", ["true", "false"])
def test_every_reference_names_what_the_stack_has(
    template: dict[str, Any], target: str, network: str, dms_vpc_role: str
) -> None:
    stack = cfn_stack.stack(
        template, TargetKind=target, NetworkMode=network, CreateDmsVpcRole=dms_vpc_role
    )
    known = set(template["Parameters"]) | set(stack["Resources"])
    dangling = {}
    for section, entries in stack.items():
        for name, body in entries.items():
            named = set(cfn_stack.references(body)) | set(_as_list(body.get("DependsOn", [])))
            missing = {n for n in named if n not in known and not n.startswith("AWS::")}
            if missing:
                dangling[f"{section}/{name}"] = missing
    assert not dangling


def test_the_condition_evaluation_follows_the_parameters(template: dict[str, Any]) -> None:
    """The evaluator itself: defaults, overrides, !Not, !And and !Condition."""
    truth = cfn_stack.conditions(template, {})
    assert truth["UseRedshift"] and truth["UseNat"] and truth["MakeDmsVpcRole"]
    assert not (truth["UseIceberg"] or truth["UseEndpoints"] or truth["NotifyAlarms"])
    assert not truth["UseRedshiftDataEndpoint"]
    parameters = {"NetworkMode": "endpoints", "AlarmTopicArn": "arn:aws:sns:r:1:t"}
    truth = cfn_stack.conditions(template, parameters)
    assert truth["UseRedshiftDataEndpoint"] and truth["NotifyAlarms"]
    truth = cfn_stack.conditions(template, {**parameters, "TargetKind": "iceberg"})
    assert truth["UseIceberg"] and truth["UseEndpoints"]
    assert not (truth["UseRedshift"] or truth["UseRedshiftDataEndpoint"])
    with pytest.raises(AssertionError, match="no such parameters"):
        cfn_stack.conditions(template, {"TargetKnd": "iceberg"})


# --------------------------------------------- the deploy command agrees with the stack
REPO = TEMPLATE.parents[2]
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stream-cdc/redshift-admin"
HMAC_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stream-cdc/hmac-key"
# The stack's defaults and what the deploy is given for them (docs/run-on-aws.md, step 4).
STACK_VALUES = {
    "Bucket": "bkt-a",
    "ArtifactsPrefix": "stream-cdc/",
    "ProjectName": "stream-cdc",
    "ConfigFileName": "sports-aws.yaml",
    "AWS::Region": "eu-west-1",
    "RedshiftSecret": SECRET_ARN,
    "HmacKeySecret": HMAC_ARN,
}


def _sports_aws(tmp_path: Path, target: str) -> Path:
    """conf/sports-aws.yaml filled in as docs/run-on-aws.md does, for either target."""
    text = (REPO / "conf" / "sports-aws.yaml").read_text(encoding="utf-8")
    filled = {
        "__BUCKET__": STACK_VALUES["Bucket"],
        "__REGION__": STACK_VALUES["AWS::Region"],
        "__STREAM__": "stream-cdc-cdc",
        "__WORKGROUP_HOST__": "stream-cdc.internal",
        "__COPY_ROLE_ARN__": "arn:aws:iam::123456789012:role/stream-cdc-redshift-copy",
    }
    for placeholder, value in filled.items():
        text = text.replace(placeholder, value)
    raw = yaml.safe_load(text)
    if target == "iceberg":  # the stack's outputs IcebergWarehouse and IcebergDatabase
        raw["target"] = {
            "kind": "iceberg",
            "catalog": "glue",
            "path": f"s3://{STACK_VALUES['Bucket']}/iceberg",
            "namespace": template_default("IcebergDatabaseName"),
        }
        raw.pop("denormalize")  # the warehouse's
    path = tmp_path / STACK_VALUES["ConfigFileName"]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def template_default(parameter: str) -> str:
    loaded = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return str(loaded["Parameters"][parameter]["Default"])


def _stack_value(value: Any) -> Any:
    """A template value with the stack's values in: `!Ref` and `!Sub` of STACK_VALUES."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return STACK_VALUES[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: STACK_VALUES[m[1]], value["Fn::Sub"])
    assert isinstance(value, str), value
    return value


@pytest.mark.parametrize("target", ["redshift", "iceberg"])
def test_the_deploy_gives_each_targets_job_the_arguments_the_stack_gives_it(
    template: dict[str, Any], target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import deploy.__main__ as cli

    secret = ["--secret", SECRET_ARN] if target == "redshift" else []
    argv = [
        "glue", "--config", str(_sports_aws(tmp_path, target)),
        "--bucket", STACK_VALUES["Bucket"], "--prefix", STACK_VALUES["ArtifactsPrefix"],
        "--job-name", "stream-cdc-sports", "--role", "arn:aws:iam::123456789012:role/j",
        "--hmac-secret", HMAC_ARN, *secret, "--dry-run",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    [create] = [s for s in capsys.readouterr().out.splitlines() if s.startswith("glue create_job")]
    deployed = json.loads(create.split(" ", 2)[2].split("  # ")[0])["DefaultArguments"]

    stack = cfn_stack.stack(template, TargetKind=target)
    in_stack = stack["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    assert {name: _stack_value(value) for name, value in in_stack.items()} == deployed


def test_the_sports_config_logs_in_as_the_admin_the_stack_creates() -> None:
    """docs/run-on-aws.md fills conf/sports-aws.yaml from the stack's outputs; the
    warehouse user is not one of them, so it must be the stack's default admin name (the
    password comes from the admin secret the stack makes for that user)."""
    config = yaml.safe_load((REPO / "conf" / "sports-aws.yaml").read_text(encoding="utf-8"))
    assert config["target"]["user"] == template_default("RedshiftAdminUsername")
