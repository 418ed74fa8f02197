"""What a Glue job needs besides its script: the project's packages as one zip
(`--extra-py-files`) and the pinned libraries Glue 5.0 lacks (`--additional-python-modules`).

The zip is deterministic (sorted entries, fixed timestamps and modes, no caches): the
same sources give the same bytes, so an unchanged upload is recognisable by its hash.
"""

from __future__ import annotations

import io
import re
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

# Only used by the demo generator, the simulators and jobs/verify.py.
_NOT_NEEDED_ON_GLUE = frozenset({"faker", "pymysql"})

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say


def packages(root: Path = ROOT) -> list[str]:
    """The top-level packages pyproject.toml ships, minus those never used on Glue."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns: list[str] = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {pattern.rstrip("*").rstrip(".") for pattern in patterns}
    return sorted(names - NOT_ON_GLUE)


def build_zip(root: Path = ROOT) -> bytes:
    """The packages' Python sources as a zip importable from `sys.path`."""
    files = sorted(
        path.relative_to(root).as_posix()
        for package in packages(root)
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
