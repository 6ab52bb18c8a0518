"""Drives a kvm instance (real QEMU on the master's node) with Ganeti's official RAPI client
(Debian python3-ganeti-rapi), one step per run; the test waits for the guest to boot between
steps (a guest still booting has no ACPI handler yet and would ignore a soft shutdown):
create (with hvparams), soft (reboot), hard (reboot), remove (shutdown and delete).

Usage: rapi_kvm.py HOST PORT USER PASSWORD CAFILE (create|soft|hard|remove)
Exits non-zero with a message on the first expectation that fails; prints "ok" at the end.
"""
import functools
import sys

from rapi_common import check, connect, poll_id
from rapi_common import succeeds as job_succeeds

c, _ = connect()
NAME = "pyvm.corral.test"
poll = functools.partial(poll_id, c)
succeeds = functools.partial(job_succeeds, c)
phase = sys.argv[6]

if phase == "create":
    succeeds(c.CreateInstance("create", NAME, "file", [{"size": 1024}], [{"mode": "bridged", "link": "br0"}],
                              os="corral-marker+default", pnode="node1.corral.test", hypervisor="kvm",
                              hvparams={"kernel_args": "console=ttyS0 quiet corral.ip=10.78.0.1/24", "disk_cache": "none"},
                              beparams={"maxmem": 256, "minmem": 256, "vcpus": 1},
                              ip_check=False, name_check=False), "CreateInstance (kvm)")
    inst = c.GetInstance(NAME)
    check(inst["status"] == "running", "running after creation: %r" % inst["status"])
    check(inst["hvparams"]["kernel_args"].endswith("corral.ip=10.78.0.1/24"), "hvparams: %r" % inst["hvparams"])
    check(inst["network_port"] == 11000, "network_port: %r" % inst["network_port"])
    info = succeeds(c.GetInstanceInfo(NAME), "GetInstanceInfo")
    check(info[NAME]["hypervisor"] == "kvm", "info says kvm: %r" % info[NAME]["hypervisor"])
    check(info[NAME]["run_state"] == "up", "info run_state: %r" % info[NAME]["run_state"])
elif phase in ("soft", "hard"):
    succeeds(c.RebootInstance(NAME, reboot_type=phase), "RebootInstance %s" % phase)
    check(c.GetInstance(NAME)["status"] == "running", "running after the %s reboot" % phase)
elif phase == "remove":
    succeeds(c.ShutdownInstance(NAME, timeout=30), "ShutdownInstance")
    check(c.GetInstance(NAME)["status"] == "ADMIN_down", "ADMIN_down after shutdown")
    succeeds(c.DeleteInstance(NAME), "DeleteInstance")
    check(NAME not in c.GetInstances(), "gone after DeleteInstance")
print("ok")
