"""The official client pointed at a standby master (issue 17): a cluster tag job submitted
through it, followed with WaitForJobChange (both forwarded to the leader), then the standby's
own tags (a read, answered from the standby's copy). Prints one JSON line."""
import json

from rapi_common import check, connect, poll


c, _ = connect()
job_id = c.AddClusterTags(["forwarded-by-standby"])
check(isinstance(job_id, int), "a job id is an integer: %r" % (job_id,))
# WaitForJobChange until it is final; GetJobStatus would read the standby's copy of the jobs,
# which a test standby (a master of its own) does not share with the leader.
status = poll(c, job_id, status_only=True)
print(json.dumps({"job": job_id, "status": status, "standby_tags": c.GetClusterTags()}))
