from huey.contrib.djhuey import db_task

from tierdesk.sla import rebuild


@db_task()
def run_rebuild(job_id: int) -> None:
    rebuild.run_job(job_id)
