"""Drives Corral's node, query and job resources with Ganeti's official RAPI client
(Debian python3-ganeti-rapi) on a three-node cluster (node1 the master, node2, node3).

Usage: rapi_nodes.py HOST PORT USER PASSWORD CAFILE
Exits non-zero with a message on the first expectation that fails; prints "ok" at the end.
"""
import functools
import sys

from ganeti.rapi import client as rapi

from rapi_common import check, connect, poll_id
from rapi_common import succeeds as job_succeeds

host, port = sys.argv[1], int(sys.argv[2])
c, curl_config = connect()
N1, N2, N3 = "node1.corral.test", "node2.corral.test", "node3.corral.test"


poll = functools.partial(poll_id, c)
succeeds = functools.partial(job_succeeds, c)


def fails(job_id, what, message):
    job = poll(job_id)
    check(job["status"] == "error", "%s should fail" % what)
    err = job["opresult"][0]
    check(err[0] == "OpPrereqError" and message in err[1][0], "%s: %r" % (what, err))
    return err


# Listing and reading nodes.
check(c.GetNodes() == [N1, N2, N3], "GetNodes lists the three nodes: %r" % (c.GetNodes(),))
bulk = c.GetNodes(bulk=True)
check([n["name"] for n in bulk] == [N1, N2, N3], "GetNodes(bulk) names")
check([n["role"] for n in bulk] == ["M", "C", "C"], "roles as letters in bulk output")
check(all(isinstance(n["mfree"], int) for n in bulk), "live memory from every agent")
node2 = c.GetNode("node2")
check(node2["name"] == N2 and node2["secondary_ip"] == node2["sip"], "GetNode by short name")
try:
    c.GetNode("nosuch")
    raise SystemExit("FAILED: GetNode of an unknown node")
except rapi.GanetiApiError as err:
    check(err.code == 404, "unknown node is 404, got %r" % err.code)

# Roles.
check(c.GetNodeRole(N1) == "master", "GetNodeRole of the master")
check(c.GetNodeRole(N2) == "master-candidate", "GetNodeRole of a candidate")
succeeds(c.SetNodeRole(N2, "drained"), "SetNodeRole drained")
check(c.GetNodeRole(N2) == "drained", "now drained")
succeeds(c.SetNodeRole(N2, "regular", auto_promote=True), "SetNodeRole regular")
check(c.GetNodeRole(N2) == "master-candidate", "auto-promoted back to candidate")
fails(c.SetNodeRole(N1, "drained"), "draining the master", "The master role can be changed only via master-failover")
try:
    c.SetNodeRole(N2, "master")
    raise SystemExit("FAILED: setting the master role")
except rapi.GanetiApiError as err:
    check(err.code == 400, "master role is a 400, got %r" % err.code)

# Modify: GET values are accepted as modify parameters (QA's GET/modify symmetry), though
# the merged ndparams carry exclusive_storage, which only a cluster or group may set.
node3 = c.GetNode(N3)
fails(c.ModifyNode(N3, ndparams=node3["ndparams"]), "ModifyNode with the GET's ndparams",
      "global and cannot be customized at node level")
result = succeeds(c.ModifyNode(N3, vm_capable=node3["vm_capable"]), "ModifyNode vm_capable")
check(result == [["vm_capable", "True"]], "set-params result pairs: %r" % (result,))
succeeds(c.ModifyNode(N3, ndparams={"spindle_count": 3}), "ModifyNode ndparams")
check(c.GetNode(N3)["ndparams"]["spindle_count"] == 3, "ndparams changed")
fails(c.ModifyNode(N3), "ModifyNode with nothing", "Please pass at least one modification")

# Powercycle: refused on the master without force; simulated on a fake node.
fails(c.PowercycleNode(N1), "powercycle of the master", "The node is the master and the force parameter was not set")
message = succeeds(c.PowercycleNode(N3, force=True), "PowercycleNode")
check(message.startswith("Simulated power-cycle done"), "the fake hypervisor simulates it: %r" % (message,))

# Evacuate and migrate start one job per instance; no instances here, so none.
check(succeeds(c.EvacuateNode(N2, iallocator="hail", mode=rapi.NODE_EVAC_SEC), "EvacuateNode") == {"jobs": []},
      "evacuation result lists the jobs it started")
dry = poll(c.EvacuateNode(N2, iallocator="hail", mode=rapi.NODE_EVAC_PRI, dry_run=True))
check(dry["status"] == "success" and dry["opresult"] == [None], "EvacuateNode dry run")
fails(c.EvacuateNode(N2, iallocator="hail", mode=rapi.NODE_EVAC_ALL), "evacuating all", "not possible to evacuate all instances at once")
check(succeeds(c.MigrateNode(N2, mode="live"), "MigrateNode") == {"jobs": []}, "migration result")
legacy = poll(c.MigrateNode(N2, mode="live", dry_run=True))
check("mode" not in legacy["ops"][0] and "dry_run" not in legacy["ops"][0],
      "with dry_run the server reads the legacy query form and drops the body, as Ganeti: %r" % (legacy["ops"][0],))

# Storage units.
rows = succeeds(c.GetNodeStorageUnits(N2, "file", "node,name,size,used,free,allocatable"), "GetNodeStorageUnits")
check(len(rows) == 1 and rows[0][0] == N2 and rows[0][5] is True, "one file storage unit: %r" % (rows,))
check(all(isinstance(v, int) for v in rows[0][2:5]), "sizes in MiB")
fails(c.ModifyNodeStorageUnits(N2, "file", rows[0][1], allocatable=False), "ModifyNodeStorageUnits",
      "Storage units of type 'file' can not be modified")
fails(c.RepairNodeStorageUnits(N2, "file", rows[0][1]), "RepairNodeStorageUnits",
      "Storage units of type 'file' can not be repaired")

# Query2.
q = c.Query("node", ["name", "role", "master", "mtotal"])
check([f["name"] for f in q["fields"]] == ["name", "role", "master", "mtotal"], "Query fields in order")
check([row[0] for row in q["data"]] == [[0, N1], [0, N2], [0, N3]], "Query rows: %r" % (q["data"],))
masters = c.Query("node", ["name", "master"], qfilter=["?", "master"])
check(masters["data"] == [[[0, N1], [0, True]]], "Query with a filter: %r" % (masters["data"],))
regex = c.Query("node", ["name"], qfilter=["=~", "name", "^node[23]"])
check(len(regex["data"]) == 2, "regex filter")
jobs = c.Query("job", ["id", "status"])
check(len(jobs["data"]) > 10 and all(row[1][1] in rapi.JOB_STATUS_ALL for row in jobs["data"]), "job query")
fields = c.QueryFields("node")
check(len(fields["fields"]) == 46, "46 node fields, got %d" % len(fields["fields"]))
subset = c.QueryFields("instance", fields=["name", "_unknown!"])
check([f["kind"] for f in subset["fields"]] == ["text", "unknown"], "QueryFields subset and unknown kind")
try:
    c.Query("bogus", ["name"])
    raise SystemExit("FAILED: query of an unknown resource")
except rapi.GanetiApiError as err:
    check(err.code == 404, "an unknown resource is 404, got %r" % err.code)

# Jobs.
ids = c.GetJobs()
check(ids == sorted(ids) and len(ids) > 10, "GetJobs lists job ids")
bulk_jobs = c.GetJobs(bulk=True)
check(all("summary" in j and "oplog" not in j for j in bulk_jobs), "bulk jobs without the log")
status = c.GetJobStatus(ids[-1])
check(status["id"] == ids[-1] and status["status"] in rapi.JOB_STATUS_FINALIZED, "GetJobStatus")
check(c.WaitForJobCompletion(ids[0], period=0, retries=3), "WaitForJobCompletion of the first join job")

reader = rapi.GanetiRapiClient(host, port=port, username="reader", password="readerpass", curl_config_fn=curl_config)
check(len(reader.Query("node", ["name"])["data"]) == 3, "a read-only user may query")
try:
    reader.SetNodeRole(N2, "drained")
    raise SystemExit("FAILED: a read-only user could set a role")
except rapi.GanetiApiError as err:
    check(err.code == 403, "read-only user gets 403, got %r" % err.code)
try:
    reader.GetNodeStorageUnits(N2, "file", "name")
    raise SystemExit("FAILED: a read-only user could list storage")
except rapi.GanetiApiError as err:
    check(err.code == 403, "storage listing needs write access, got %r" % err.code)

print("ok")
