"""Moves kvm instances between two nodes with Ganeti's official RAPI client (Debian
python3-ganeti-rapi), following every job with WaitForJobChange the way the client's PollJob
does and keeping the log lines it hands out: MigrateNode of NODE_FROM (each child job's live
migration logs memory transfer progress), FailoverInstance of FAILOVER to NODE_FROM, then
MigrateInstance of MIGRATE to NODE_FROM (progress again).

Usage: rapi_kvm_moves.py HOST PORT USER PASSWORD CAFILE NODE_FROM NODE_TO FAILOVER MIGRATE
Every instance on NODE_FROM moves to NODE_TO, then FAILOVER and MIGRATE move back to NODE_FROM.
Exits non-zero with a message on the first expectation that fails; prints "ok" at the end.
"""
import re
import sys

from rapi_common import check, connect, poll

c, _ = connect()
node_from, node_to, failover, migrate = sys.argv[6:10]
PROGRESS = re.compile(r"^\* memory transfer progress: [\d.]+ % \(\d+/\d+ MiB, pass \d+, ")


def follow(job_id, what):
    """The job, which must succeed, followed with WaitForJobChange; (GetJobStatus, every log message handed out)."""
    check(isinstance(job_id, int), "%s: a job id is an integer: %r" % (what, job_id))
    messages = []
    job = poll(c, job_id, messages)
    check(job["status"] == "success", "%s: %r %r" % (what, job["opresult"], messages))
    return job, messages


def migrated_live(messages, what):
    check(any(PROGRESS.match(m) for m in messages), "%s: progress lines in %r" % (what, messages))
    check(any(m.startswith("* memory transfer complete: precopy, total time") for m in messages),
          "%s: final figures in %r" % (what, messages))
    print("%s: %d progress lines, %s" % (what, sum(1 for m in messages if PROGRESS.match(m)),
                                         [m for m in messages if m.startswith("* memory transfer complete")][0]))


def pnode(name):
    return c.GetInstance(name)["pnode"]


moving = sorted(i["name"] for i in c.GetInstances(bulk=True) if i["pnode"] == node_from)
check(len(moving) >= 1, "instances on %s: %r" % (node_from, moving))
job, _ = follow(c.MigrateNode(node_from, mode="live", target_node=node_to), "MigrateNode")
children = job["opresult"][0]["jobs"]
check(len(children) == len(moving), "one child job per instance: %r for %r" % (children, moving))
for ok, child in children:
    check(ok, "child job submitted: %r" % (children,))
    migrated_live(follow(child, "MigrateNode's job %s" % child)[1], "MigrateNode's job %s" % child)
for name in moving:
    check(pnode(name) == node_to, "%s on %s after MigrateNode: %r" % (name, node_to, pnode(name)))

_, log = follow(c.FailoverInstance(failover, target_node=node_from), "FailoverInstance")
check("* starting the instance on the target node %s" % node_from in log, "FailoverInstance started it: %r" % log)
check(pnode(failover) == node_from, "FailoverInstance moved it: %r" % pnode(failover))
check(c.GetInstance(failover)["status"] == "running", "running after FailoverInstance")

_, log = follow(c.MigrateInstance(migrate, mode="live", target_node=node_from), "MigrateInstance")
migrated_live(log, "MigrateInstance")
check(pnode(migrate) == node_from, "MigrateInstance moved it: %r" % pnode(migrate))
print("ok")
