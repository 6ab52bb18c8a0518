"""Drives Corral with Ganeti's official RAPI client (Debian python3-ganeti-rapi).

Usage: rapi_foundation.py HOST PORT USER PASSWORD CAFILE
Exits non-zero with a message on the first expectation that fails.
"""
import sys

from ganeti.rapi import client as rapi

from rapi_common import check, connect
from rapi_common import poll as poll_job

host, port = sys.argv[1], int(sys.argv[2])
c, curl_config = connect()


def poll(job_id):
    return poll_job(c, job_id)


check(c.GetVersion() == 2, "GetVersion is 2")
features = c.GetFeatures()
check(rapi._INST_CREATE_REQV1 in features, "instance-create-reqv1 is a feature")
info = c.GetInfo()
check(info["name"] == "cluster.corral.test", "GetInfo names the cluster")
check(info["enabled_hypervisors"] == ["fake"], "fake hypervisor enabled")

job = c.AddClusterTags(["client-a", "client-b"])
check(isinstance(job, int), "AddClusterTags returns an integer job id")
status = poll(job)
check(status["status"] == "success", "tag job succeeded: %r" % status)
check(sorted(c.GetClusterTags()) == ["client-a", "client-b"], "tags were added")

dry = poll(c.AddClusterTags(["dry"], dry_run=True))
check(dry["status"] == "success" and "dry" not in c.GetClusterTags(), "dry-run changes nothing")

failed = poll(c.DeleteClusterTags(["never-there"]))
check(failed["status"] == "error", "deleting a missing tag fails")
check(failed["opresult"][0][0] == "OpPrereqError", "with an OpPrereqError")

poll(c.DeleteClusterTags(["client-b"]))
check(c.GetClusterTags() == ["client-a"], "tag removed")

redist = poll(c.RedistributeConfig())
check(redist["status"] == "success", "RedistributeConfig job succeeds")

jobs = c.GetJobs()
check(job in jobs, "GetJobs lists the job ids")
bulk = c.GetJobs(bulk=True)
check(any(j["id"] == job for j in bulk), "GetJobs(bulk) has the job")
check(c.WaitForJobCompletion(job, period=0, retries=3), "WaitForJobCompletion")
cancel = c.CancelJob(job)
check(cancel[0] is False, "a finished job cannot be canceled: %r" % (cancel,))

try:
    c.GetJobStatus(10**6)
except rapi.GanetiApiError:
    pass

reader = rapi.GanetiRapiClient(host, port=port, username="reader", password="readerpass", curl_config_fn=curl_config)
try:
    reader.AddClusterTags(["nope"])
    raise SystemExit("FAILED: a read-only user could add tags")
except rapi.GanetiApiError as err:
    check(err.code == 403, "read-only user gets 403, got %r" % err.code)

print("ok")
