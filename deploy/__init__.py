"""Deploy the job as an AWS Glue 5.0 streaming job: `python -m deploy glue --help`.

`deploy.package` builds what Glue installs (the project's packages as a zip, the pinned
libraries Glue lacks); `deploy.glue_job` lists and makes the AWS calls (S3 uploads,
create or update the job, start a run); `deploy.cloudformation` writes that job into the
CloudFormation template.
"""
