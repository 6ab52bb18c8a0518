"""Drives Corral's instance resources with Ganeti's official RAPI client (Debian
python3-ganeti-rapi) on a two-node cluster (node1 the master's own, node2).

Usage: rapi_instances.py HOST PORT USER PASSWORD CAFILE
Exits non-zero with a message on the first expectation that fails; prints "ok" at the end.
"""
import functools

from ganeti.rapi import client as rapi

from rapi_common import check, connect, poll_id
from rapi_common import succeeds as job_succeeds

c, _ = connect()
N1, N2 = "node1.corral.test", "node2.corral.test"
OS = "corral-marker+default"
BE = {"maxmem": 128, "minmem": 128, "vcpus": 1}


poll = functools.partial(poll_id, c)
succeeds = functools.partial(job_succeeds, c)


def fails(job_id, what, message):
    job = poll(job_id)
    check(job["status"] == "error", "%s should fail" % what)
    err = [r for r in job["opresult"] if isinstance(r, list)][0]
    check(message in err[1][0], "%s: %r" % (what, err))
    return err


# The OS list and creation (request version 1, the old key "name", "os" for os_type).
check(c.GetOperatingSystems() == ["corral-image+default", OS, "corral-marker+minimal"], "GetOperatingSystems: %r" % (c.GetOperatingSystems(),))
check(c.GetInstances() == [], "no instances at first")
nodes = succeeds(c.CreateInstance("create", "cli1.corral.test", "sharedfile", [{"size": 1024}], [{}],
                                  os=OS, pnode=N1, beparams=BE), "CreateInstance on node1")
check(nodes == [N1], "the job result names the node: %r" % (nodes,))
dry = succeeds(c.CreateInstance("create", "cli2.corral.test", "diskless", [], [{}], os=OS, iallocator="hail",
                                beparams=BE, dry_run=True), "dry-run CreateInstance")
check(len(dry) == 1, "a dry run names one node: %r" % (dry,))
succeeds(c.CreateInstance("create", "cli2.corral.test", "file", [{"size": 1024, "name": "root"}], [{"mac": "generate"}],
                          os=OS, iallocator="hail", beparams=BE, start=False), "CreateInstance by the allocator")
fails(c.CreateInstance("create", "cli1.corral.test", "diskless", [], [{}], os=OS, pnode=N1),
      "a duplicate", "is already in the cluster")

# Reading.
check(c.GetInstances() == ["cli1.corral.test", "cli2.corral.test"], "GetInstances: %r" % (c.GetInstances(),))
bulk = c.GetInstances(bulk=True)
for key in ["name", "os", "pnode", "snodes", "admin_state", "disk_template", "disk.sizes", "disk.spindles", "nic.ips",
            "nic.macs", "nic.modes", "nic.links", "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus",
            "status", "tags"]:
    check(all(key in i for i in bulk), "bulk instances have %s" % key)
one = c.GetInstance("cli1")
check(one["name"] == "cli1.corral.test" and one["status"] == "running", "GetInstance: %r" % (one,))
check(one["beparams"]["memory"] == 128, "beparams.memory is maxmem")
info = succeeds(c.GetInstanceInfo("cli1.corral.test"), "GetInstanceInfo")["cli1.corral.test"]
check(info["run_state"] == "up" and info["config_state"] == "up", "info: %r" % (info,))
static = succeeds(c.GetInstanceInfo("cli1.corral.test", static=True), "GetInstanceInfo(static)")["cli1.corral.test"]
check(static["run_state"] is None, "static info has no run state")
console = c.GetInstanceConsole("cli1.corral.test")
check(console["instance"] == "cli1.corral.test" and console["kind"] == "msg", "console: %r" % (console,))
try:
    c.GetInstanceConsole("cli2.corral.test")
    raise SystemExit("FAILED: a stopped instance has no console")
except rapi.GanetiApiError as err:
    check(err.code == 503, "stopped console gives 503, got %r" % err.code)

# Power.
succeeds(c.StartupInstance("cli2.corral.test"), "StartupInstance")
check(c.GetInstance("cli2.corral.test")["status"] == "running", "started")
succeeds(c.RebootInstance("cli2.corral.test", reboot_type="soft"), "RebootInstance soft")
succeeds(c.RebootInstance("cli2.corral.test", reboot_type="hard", ignore_secondaries=False, shutdown_timeout=30), "RebootInstance hard")
succeeds(c.ShutdownInstance("cli2.corral.test", timeout=20), "ShutdownInstance")
check(c.GetInstance("cli2.corral.test")["status"] == "ADMIN_down", "stopped")
succeeds(c.ShutdownInstance("cli2.corral.test", dry_run=True), "dry-run ShutdownInstance")

# Changes.
changes = succeeds(c.ModifyInstance("cli1.corral.test", beparams={"maxmem": 256}, custom_hvparams={}), "ModifyInstance")
check(changes == [["be/maxmem", 256]], "ModifyInstance result: %r" % (changes,))
check(c.GetInstance("cli1.corral.test")["custom_beparams"]["maxmem"] == 256, "modified")
succeeds(c.GrowInstanceDisk("cli2.corral.test", 0, 512, wait_for_sync=False), "GrowInstanceDisk")
check(c.GetInstance("cli2.corral.test")["disk.sizes"] == [1536], "disk grown")
fails(c.RenameInstance("cli1.corral.test", "cli9.corral.test"), "rename while up", "is marked to be up, cannot rename")
check(succeeds(c.RenameInstance("cli2.corral.test", "cli3.corral.test", ip_check=False, name_check=False), "RenameInstance")
      == "cli3.corral.test", "the rename's result is the new name")
check("cli3.corral.test" in c.GetInstances(), "renamed")
succeeds(c.ActivateInstanceDisks("cli3.corral.test"), "ActivateInstanceDisks")
succeeds(c.DeactivateInstanceDisks("cli3.corral.test"), "DeactivateInstanceDisks")
fails(c.RecreateInstanceDisks("cli3.corral.test", disks=[0]), "recreating existing disks", "File already existing")
fails(c.ReplaceInstanceDisks("cli3.corral.test", mode="replace_auto"), "replace-disks", "expected one secondary but found 0")
succeeds(c.ReinstallInstance("cli3.corral.test", os="corral-marker+minimal", no_startup=True), "ReinstallInstance")
check(c.GetInstance("cli3.corral.test")["os"] == "corral-marker+minimal", "reinstalled with another variant")

# Tags.
succeeds(c.AddInstanceTags("cli1.corral.test", ["web", "env:test"]), "AddInstanceTags")
check(c.GetInstanceTags("cli1.corral.test") == ["env:test", "web"], "tags: %r" % (c.GetInstanceTags("cli1.corral.test"),))
succeeds(c.DeleteInstanceTags("cli1.corral.test", ["web"]), "DeleteInstanceTags")
check(c.GetInstanceTags("cli1.corral.test") == ["env:test"], "tag removed")

# Moving the sharedfile instance between the nodes.
succeeds(c.MigrateInstance("cli1.corral.test", mode="live", target_node=N2), "MigrateInstance")
check(c.GetInstance("cli1.corral.test")["pnode"] == N2, "migrated to node2")
succeeds(c.FailoverInstance("cli1.corral.test", target_node=N1), "FailoverInstance")
check(c.GetInstance("cli1.corral.test")["pnode"] == N1 and c.GetInstance("cli1.corral.test")["status"] == "running",
      "failed over back to node1 and running")
fails(c.MigrateInstance("cli3.corral.test", target_node=N1), "migrating a file instance", "does not allow migrations")

# Export and prepare.
check(succeeds(c.PrepareExport("cli3.corral.test", "local"), "PrepareExport") is None, "a local prepare has no result")
result = succeeds(c.ExportInstance("cli3.corral.test", "local", N2, shutdown=True), "ExportInstance")
check(result == [True, [True]], "export result: %r" % (result,))

# Several at once.
allocs = [c.InstanceAllocation("create", "multi%d.corral.test" % i, "diskless", [], [{}], os=OS, pnode=N1, beparams=BE, start=False)
          for i in (1, 2)]
multi = succeeds(c.InstancesMultiAlloc(allocs), "InstancesMultiAlloc")
check(multi["allocatable"] == ["multi1.corral.test", "multi2.corral.test"], "multi-alloc: %r" % (multi,))
for ok, job_id in multi["jobs"]:
    check(ok, "sub-job submitted")
    check(c.WaitForJobCompletion(job_id, period=0.1, retries=200), "sub-job %s succeeded" % job_id)

# Removal.
for name in ["cli1", "cli3", "multi1", "multi2"]:
    succeeds(c.DeleteInstance("%s.corral.test" % name), "DeleteInstance %s" % name)
fails(c.DeleteInstance("nosuch.corral.test"), "deleting an unknown instance", "Instance 'nosuch.corral.test' not known")
check(c.GetInstances() == [], "all removed: %r" % (c.GetInstances(),))
try:
    c.GetInstance("cli1.corral.test")
    raise SystemExit("FAILED: a removed instance is still found")
except rapi.GanetiApiError as err:
    check(err.code == 404, "404 for a removed instance, got %r" % err.code)
print("ok")
