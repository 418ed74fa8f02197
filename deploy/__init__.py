"""Deploy the job as an AWS Glue 5.0 streaming job: `python -m deploy glue --help`.

`deploy.package` builds what Glue installs (the project's packages as a zip, the pinned
libraries Glue lacks); `deploy.glue_job` lists and makes the AWS calls (S3 uploads,
create or update the job, start a run).
"""

from deploy.glue_job import Call, DeployError, JobSpec, default_arguments, execute, plan
from deploy.package import additional_python_modules, build_zip

__all__ = [
    "Call",
    "DeployError",
    "JobSpec",
    "additional_python_modules",
    "build_zip",
    "default_arguments",
    "execute",
    "plan",
]
