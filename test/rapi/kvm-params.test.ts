// kvm instances on the master's side: a network_port from the cluster's range at creation,
// given back on removal; hypervisor parameters checked against the instance's hypervisor,
// and kvm parameters Corral does not implement refused unless at their default.

import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { call, runJob, suiteMaster } from "../support/cluster.ts";

const body = (name: string, over: Record<string, unknown> = {}) => ({
  __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}],
  os_type: "corral-marker+default", beparams: { maxmem: 128, minmem: 128, vcpus: 1 },
  ip_check: false, name_check: false, start: false, hypervisor: "kvm", ...over,
});

async function failure(port: number, b: Record<string, unknown>): Promise<[string, string, string]> {
  const job = await runJob(port, "POST", "/2/instances", b);
  assert.equal(job.status, "error");
  const [cls, [message, ecode]] = (job.opresult as [string, [string, string]][])[0];
  return [cls, message, ecode];
}

describe("kvm instances on the master", () => {
  const m = suiteMaster();
  before(async () => {
    const job = await runJob(m.port, "PUT", "/2/modify", { enabled_hypervisors: ["fake", "kvm"] });
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
  });
  const port = async (name: string) => ((await call(m.port, "GET", `/2/instances/${name}`)).json as { network_port: number | null }).network_port;

  it("gets a network_port from 11000 up; a removed instance's port is handed out again", async () => {
    for (const n of ["p1", "p2"]) assert.equal((await runJob(m.port, "POST", "/2/instances", body(`${n}.corral.test`))).status, "success");
    assert.deepEqual([await port("p1.corral.test"), await port("p2.corral.test")], [11000, 11001]);
    const removed = await runJob(m.port, "DELETE", "/2/instances/p1.corral.test");
    assert.equal(removed.status, "success", JSON.stringify(removed.opresult));
    assert.equal((await runJob(m.port, "POST", "/2/instances", body("p3.corral.test"))).status, "success");
    assert.equal(await port("p3.corral.test"), 11000);
    // A fake instance needs no port.
    assert.equal((await runJob(m.port, "POST", "/2/instances", body("f1.corral.test", { hypervisor: "fake" }))).status, "success");
    assert.equal(await port("f1.corral.test"), null);
  });

  it("refuses parameters of another hypervisor, bad values, and kvm parameters Corral does not implement", async () => {
    const [cls1, msg1, ecode1] = await failure(m.port, body("x1.corral.test", { hypervisor: "fake", hvparams: { kernel_path: "/boot/vmlinuz" } }));
    assert.deepEqual([cls1, ecode1], ["OpPrereqError", "wrong_input"]);
    assert.match(msg1, /'kernel_path' is not supported by the fake hypervisor/);
    const [, msg2] = await failure(m.port, body("x2.corral.test", { hvparams: { boot_order: "usb" } }));
    assert.match(msg2, /'boot_order' fails syntax check/);
    const [, msg3, ecode3] = await failure(m.port, body("x3.corral.test", { hvparams: { vga: "std" } }));
    assert.equal(ecode3, "wrong_input");
    assert.match(msg3, /'vga' is not implemented by Corral's kvm hypervisor/);
    const [, msg4] = await failure(m.port, body("x4.corral.test", { hvparams: { disk_type: "scsi" } }));
    assert.match(msg4, /'disk_type' value 'scsi' is not implemented/);
    const [, msg5] = await failure(m.port, body("x5.corral.test", { hvparams: { kernel_path: "vmlinuz" } }));
    assert.match(msg5, /must be absolute/);
    const [, msg6] = await failure(m.port, body("x7.corral.test", { hvparams: { migration_caps: "postcopy-ram:rdma-pin-all" } }));
    assert.match(msg6, /'migration_caps' fails syntax check: must be a colon-separated list of distinct capabilities out of postcopy-ram, auto-converge, xbzrle, multifd \(current value: 'postcopy-ram:rdma-pin-all'\)/);
    const [, msg7] = await failure(m.port, body("x8.corral.test", { hvparams: { migration_caps: "xbzrle:xbzrle" } }));
    assert.match(msg7, /'migration_caps' fails syntax check/);
    // Defaults are fine, and implemented parameters too.
    const ok = await runJob(m.port, "POST", "/2/instances", body("x6.corral.test", {
      hvparams: { vga: "", kernel_args: "console=ttyS0", disk_cache: "none", migration_caps: "postcopy-ram:auto-converge" },
    }));
    assert.equal(ok.status, "success", JSON.stringify(ok.opresult));
    // Nothing was left of the refused ones.
    const names = ((await call(m.port, "GET", "/2/instances")).json as { id: string }[]).map((i) => i.id);
    assert.ok(!names.some((n) => /^x[1-57-8]\./.test(n)), names.join(","));
  });

  it("checks modifications the same way", async () => {
    const job = await runJob(m.port, "PUT", "/2/instances/x6.corral.test/modify", { hvparams: { soundhw: "hda" } });
    assert.equal(job.status, "error");
    assert.match(JSON.stringify(job.opresult), /'soundhw' is not implemented/);
  });
});
