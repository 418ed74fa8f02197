"""S3A's settings as the options of Arrow's S3 file system (aws/clients.py): the tasks that
write a lake's new tables with Arrow reach S3 where S3A does, with what S3A was given."""

from __future__ import annotations

from aws.clients import arrow_s3, arrow_s3_options


def test_a_local_endpoint_url_gives_its_host_and_scheme_and_the_credentials_s3a_has() -> None:
    hadoop = {
        "fs.s3a.endpoint": "http://127.0.0.1:5123",
        "fs.s3a.endpoint.region": "eu-west-1",
        "fs.s3a.access.key": "AKIDEXAMPLE",
        "fs.s3a.secret.key": "not-a-secret",
    }
    options = arrow_s3_options(hadoop.get)
    assert options == {
        "endpoint_override": "127.0.0.1:5123",
        "scheme": "http",
        "region": "eu-west-1",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "not-a-secret",
    }
    files = arrow_s3(options)
    assert files.region == "eu-west-1"


def test_an_endpoint_without_a_scheme_follows_s3as_ssl_setting() -> None:
    plain = {"fs.s3a.endpoint": "s3.example.test:9000", "fs.s3a.connection.ssl.enabled": "false"}
    assert arrow_s3_options(plain.get) == {
        "endpoint_override": "s3.example.test:9000",
        "scheme": "http",
    }
    assert arrow_s3_options({"fs.s3a.endpoint": "s3.example.test"}.get)["scheme"] == "https"


def test_without_settings_aws_default_chain_decides() -> None:
    nothing: dict[str, str] = {}
    assert arrow_s3_options(nothing.get) == {}
