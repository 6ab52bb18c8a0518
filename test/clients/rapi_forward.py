"""The official client pointed at a standby master (issue 17): a cluster tag job submitted
through it, followed with WaitForJobChange (both forwarded to the leader), then the standby's
own tags (a read, answered from the standby's copy). Prints one JSON line."""
import json

from ganeti.rapi import client as rapi

from rapi_common import check, connect


def follow(c, job_id):
    """WaitForJobChange until the job is finalized: its last status (GetJobStatus would be a
    read of the standby's copy, which a test standby does not share with the leader)."""
    prev_info, prev_serial = None, None
    for _ in range(200):
        result = c.WaitForJobChange(job_id, ["status"], prev_info, prev_serial)
        if not result:
            continue
        info, log = result["job_info"], result["log_entries"]
        if log:
            prev_serial = max(entry[0] for entry in log)
        if info[0] in rapi.JOB_STATUS_FINALIZED and not log:
            return info[0]
        prev_info = info
    raise SystemExit("FAILED: job %s did not finish" % job_id)


c, _ = connect()
job_id = c.AddClusterTags(["forwarded-by-standby"])
check(isinstance(job_id, int), "a job id is an integer: %r" % (job_id,))
status = follow(c, job_id)
print(json.dumps({"job": job_id, "status": status, "standby_tags": c.GetClusterTags()}))
