"""What a Glue job needs besides its script: the project's packages as one zip
(`--extra-py-files`) and the pinned libraries Glue 5.0 lacks (`--additional-python-modules`).

The zip is deterministic (sorted entries, fixed timestamps and modes, no caches): the
same sources give the same bytes, so an unchanged upload is recognisable by its hash.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tomllib
import zipfile
from pathlib import Path

__all__ = ["GLUE_PROVIDED", "NOT_ON_GLUE", "additional_python_modules", "build_zip", "packages"]

ROOT = Path(__file__).resolve().parent.parent

# Packages of pyproject.toml that the Glue job does not import: the simulators generate
# demo data and drive a local database (Faker, PyMySQL), never on Glue.
NOT_ON_GLUE = frozenset({"simulators"})

# Distributions Glue 5.0 provides, by normalized name (AWS Glue developer guide, "Python
# modules already provided in AWS Glue", version 5.0), plus Spark and Delta from the
# runtime itself (Delta through `--datalake-formats delta`). Ours are not reinstalled:
# replacing Glue's boto3, pandas or pyarrow risks the runtime, and the job runs on them.
GLUE_PROVIDED = frozenset(
    {"pyspark", "delta-spark", "boto3", "botocore", "numpy", "pandas", "pyarrow"}
)

# Only used by the demo generator and the simulators. (PyMySQL is needed: the job
# discovers tables through `source.database`, the captured database's catalog.)
_NOT_NEEDED_ON_GLUE = frozenset({"faker"})

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say


def packages(root: Path = ROOT, *, glue: bool = True) -> list[str]:
    """The top-level packages pyproject.toml ships (on Glue: minus those never used there)."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns: list[str] = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {pattern.rstrip("*").rstrip(".") for pattern in patterns}
    return sorted(names - NOT_ON_GLUE if glue else names)


def build_zip(root: Path = ROOT, *, glue: bool = True) -> bytes:
    """The packages' Python sources as a zip importable from `sys.path`.

    `glue=False` keeps every package (spark-submit's `--py-files`: the demo generates its
    data with the simulators on the driver).
    """
    files = sorted(
        path.relative_to(root).as_posix()
        for package in packages(root, glue=glue)
        for path in (root / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in files:
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 3  # unix, whatever builds it
            archive.writestr(entry, (root / name).read_bytes(), compresslevel=9)
    return buffer.getvalue()


def additional_python_modules(root: Path = ROOT) -> list[str]:
    """The pinned runtime dependencies of pyproject.toml that Glue 5.0 does not provide."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    requirements: list[str] = pyproject["project"]["dependencies"]
    wanted = []
    for requirement in requirements:
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match is None:
            raise ValueError(f"pyproject.toml: cannot read the dependency {requirement!r}")
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        if name in GLUE_PROVIDED | _NOT_NEEDED_ON_GLUE:
            continue
        if "==" not in requirement:  # Glue would install whatever is newest that day
            raise ValueError(f"pyproject.toml: pin {requirement!r} with == for Glue")
        wanted.append(requirement.replace(" ", ""))
    return wanted


def write_zip(output: Path, *, glue: bool = True) -> bool:
    """Write the zip to `output` unless it holds the same bytes; whether it was written.

    Through a temporary file and a rename: a job already running from the zip is never
    handed a file rewritten under it.
    """
    data = build_zip(glue=glue)
    if output.is_file() and output.read_bytes() == data:
        return False
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.chmod(0o644)
    os.replace(temporary, output)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.package",
        description="Write the project's packages as one zip (deterministic bytes).",
    )
    parser.add_argument("--output", required=True, type=Path, help="the zip to write")
    parser.add_argument(
        "--all", action="store_true", help="every package, simulators too (spark-submit.sh)"
    )
    args = parser.parse_args(argv)
    write_zip(args.output, glue=not args.all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
