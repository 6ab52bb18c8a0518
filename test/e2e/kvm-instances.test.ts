// Real virtual machines through RAPI: a master whose own node runs QEMU (TCG) inside a network
// namespace made by this test, with a bridge there; instances created, booted, grown,
// hot-plugged, rebooted soft and hard, re-adopted after a master restart, killed, shut down
// and removed over the API, and two guests on the bridge pinging each other. Every boot is
// ~10 s under TCG, so the guests are few and each check reuses them.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { startMaster, type Master } from "../../src/master/master.ts";
import { dataPaths } from "../../src/master/datadir.ts";
import { instanceFiles, isInstanceQemu, readPid } from "../../src/node/hypervisor/kvm/process.ts";
import { call, runJob, usersFileText } from "../support/cluster.ts";
import { requireTestGuest } from "../support/test-guest.ts";
import { requireTools } from "../support/tools.ts";

const needs = await requireTestGuest();
const net = requireTools({ tools: ["ip", "python3"], root: true });
const NS = `corral-kvm-${process.pid}`;
const BOOT_MS = 90_000;

/** Resolves once `pattern` appears in the file beyond `from` characters; the offset just past it. */
async function marker(file: string, pattern: RegExp, from = 0, timeoutMs = BOOT_MS): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, "latin1") : "";
    const m = pattern.exec(text.slice(from));
    if (m) return from + m.index + m[0].length;
    if (Date.now() > deadline) assert.fail(`no ${pattern} in ${file} after ${timeoutMs} ms; its end: ${JSON.stringify(text.slice(-600))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ip = (...args: string[]) => execFileSync(net.path("ip"), args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

// QEMU and the guest first, then root and ip for the namespace: whichever is missing decides.
const requirement = needs.missing.length > 0 ? needs : net;
requirement.describe("kvm instances over RAPI", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-kvm-e2e-"));
  const dataDir = join(dir, "data");
  const usersFile = join(dir, "users");
  let master: Master;
  const start = () =>
    startMaster({
      dataDir, port: 0, bind: "127.0.0.1", ssl: false, usersFile, requireAuthentication: false, maxClients: 20,
      clusterName: "cluster.corral.test", nodeName: "node1.corral.test", log: () => undefined, announce: () => undefined,
      // Ten minutes between periodic refreshes: whatever changes sooner is seen through events.
      liveRefreshMs: 600_000,
      kvm: { netns: NS, defaultAccelerator: "tcg" },
    });
  const port = () => master.port;
  const kvmRoot = () => join(dataPaths(dataDir).nodeState, "kvm");
  const files = (name: string) => instanceFiles(kvmRoot(), name);
  const info = async (name: string) => (await call(port(), "GET", `/2/instances/${name}`)).json as Record<string, unknown>;
  const until = async (name: string, want: string, withinMs: number) => {
    const t0 = Date.now();
    while ((await info(name)).status !== want) {
      if (Date.now() - t0 > withinMs) assert.fail(`${name}: status ${String((await info(name)).status)}, not ${want}, after ${withinMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return Date.now() - t0;
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const job = await runJob(port(), method, path, body);
    assert.equal(job.status, "success", `${method} ${path}: ${JSON.stringify(job.opresult)}`);
    return job;
  };

  before(async () => {
    ip("netns", "add", NS);
    ip("-n", NS, "link", "set", "lo", "up");
    ip("-n", NS, "link", "add", "br0", "type", "bridge");
    ip("-n", NS, "link", "set", "br0", "up");
    writeFileSync(usersFile, usersFileText());
    master = await start();
    await ok("PUT", "/2/modify", {
      enabled_hypervisors: ["kvm", "fake"],
      hvparams: {
        kvm: {
          kernel_path: needs.guest.kernel, initrd_path: needs.guest.initrd, kernel_args: "console=ttyS0 quiet",
          root_path: "", vnc_bind_address: "127.0.0.1", kvm_flag: "disabled",
        },
      },
    });
  });
  after(async () => {
    await master?.close();
    // Any QEMU left (a failed test) is this test's: checked by its pidfile and cmdline.
    for (const name of ["vm1.corral.test", "vm2.corral.test"]) {
      const f = files(name);
      const pid = readPid(f.pidfile);
      if (pid !== null && isInstanceQemu(pid, f.pidfile)) process.kill(pid, "SIGKILL");
    }
    try {
      ip("netns", "del", NS);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (name: string, kernelArgs: string) =>
    ok("POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "file", disks: [{ size: 1024 }],
      nics: [{ mode: "bridged", link: "br0" }], os_type: "corral-marker+default", hypervisor: "kvm",
      hvparams: { kernel_args: `console=ttyS0 quiet ${kernelArgs}` }, beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
      ip_check: false, name_check: false,
    });

  let vm1Log = 0;
  it("creates and boots a kvm instance: its console shows the guest, VNC answers RFB", async () => {
    await create("vm1.corral.test", "corral.ip=10.77.0.1/24 corral.ping=10.77.0.2");
    vm1Log = await marker(files("vm1.corral.test").console, /CORRAL_READY/);
    const vm1 = await info("vm1.corral.test");
    assert.deepEqual([vm1.status, vm1.oper_state, vm1.network_port], ["running", true, 11000]);
    const hypervisor = (await call(port(), "PUT", "/2/query/instance", { user: "reader", body: { fields: ["hypervisor"], qfilter: ["=", "name", "vm1.corral.test"] } })).json as { data: [number, string][][] };
    assert.equal(hypervisor.data[0][0][1], "kvm");
    const consoleInfo = (await call(port(), "GET", "/2/instances/vm1.corral.test/console", { user: "writer" })).json as Record<string, unknown>;
    assert.equal(consoleInfo.kind, "ssh");
    assert.ok((consoleInfo.command as string[]).join(" ").includes("serial.sock"), JSON.stringify(consoleInfo));
    // VNC listens in the node's (the test namespace's) loopback on port network_port.
    const banner = execFileSync(net.path("ip"), ["netns", "exec", NS, net.path("python3"), "-c",
      "import socket; s = socket.create_connection(('127.0.0.1', 11000), 5); print(s.recv(12).decode())"]).toString();
    assert.match(banner, /^RFB 003\.\d{3}/);
  });

  it("a second guest on the same bridge: the two ping each other", async () => {
    await create("vm2.corral.test", "corral.ip=10.77.0.2/24 corral.ping=10.77.0.1 corral.poweroff=20");
    await marker(files("vm2.corral.test").console, /CORRAL_PING_OK 10\.77\.0\.1/);
    await marker(files("vm1.corral.test").console, /CORRAL_PING_OK 10\.77\.0\.2/, vm1Log);
  });

  it("grows a disk and hot-plugs a disk and a NIC into the running guest", async () => {
    await ok("POST", "/2/instances/vm1.corral.test/disk/0/grow", { amount: 512, wait_for_sync: false });
    vm1Log = await marker(files("vm1.corral.test").console, /CORRAL_DISK_RESIZED vda sectors=3145728/, vm1Log, 20_000);
    await ok("PUT", "/2/instances/vm1.corral.test/modify", { disks: [["add", -1, { size: 1024 }]], hotplug: true });
    vm1Log = await marker(files("vm1.corral.test").console, /CORRAL_DISK_ADDED vdb sectors=2097152/, vm1Log, 20_000);
    await ok("PUT", "/2/instances/vm1.corral.test/modify", { nics: [["add", -1, { mode: "bridged", link: "br0" }]], hotplug: true });
    vm1Log = await marker(files("vm1.corral.test").console, /CORRAL_NIC_ADDED eth1/, vm1Log, 20_000);
  });

  it("a guest that powers itself off is marked down at once", async () => {
    await marker(files("vm2.corral.test").console, /CORRAL_SELF_POWEROFF/, 0, 60_000);
    await until("vm2.corral.test", "ADMIN_down", 5000);
    assert.equal(readPid(files("vm2.corral.test").pidfile), null, "QEMU is gone");
  });

  it("reboots soft (same QEMU) and hard (a new QEMU); the guest boots again each time", async () => {
    const f = files("vm1.corral.test");
    const pid = readPid(f.pidfile);
    await ok("POST", "/2/instances/vm1.corral.test/reboot?type=soft");
    vm1Log = await marker(f.console, /CORRAL_READY/, vm1Log);
    assert.equal(readPid(f.pidfile), pid, "a soft reboot keeps the process");
    await ok("POST", "/2/instances/vm1.corral.test/reboot?type=hard");
    vm1Log = await marker(f.console, /CORRAL_READY/, vm1Log);
    assert.notEqual(readPid(f.pidfile), pid, "a hard reboot starts a new process");
    assert.equal((await info("vm1.corral.test")).status, "running");
  });

  it("a master restart re-adopts the running VM", async () => {
    const f = files("vm1.corral.test");
    const pid = readPid(f.pidfile);
    await master.close();
    master = await start();
    assert.equal((await info("vm1.corral.test")).status, "running");
    assert.equal(readPid(f.pidfile), pid);
    const hb = await marker(f.console, /CORRAL_HB/, readFileSync(f.console, "latin1").length, 10_000);
    assert.ok(hb > 0, "the guest kept running");
  });

  it("a killed QEMU is ERROR_down within a second; the instance starts again and shuts down", async () => {
    const f = files("vm1.corral.test");
    const pid = readPid(f.pidfile);
    assert.ok(pid !== null && isInstanceQemu(pid, f.pidfile), "the pidfile names vm1's QEMU");
    process.kill(pid, "SIGKILL");
    const ms = await until("vm1.corral.test", "ERROR_down", 1000);
    assert.ok(ms <= 1000);
    const from = readFileSync(f.console, "latin1").length;
    await ok("PUT", "/2/instances/vm1.corral.test/startup");
    await marker(f.console, /CORRAL_READY/, from);
    await ok("PUT", "/2/instances/vm1.corral.test/shutdown", { timeout: 30 });
    assert.equal((await info("vm1.corral.test")).status, "ADMIN_down");
    assert.equal(readPid(f.pidfile), null, "QEMU is gone");
  });

  it("removes both instances", async () => {
    for (const name of ["vm1.corral.test", "vm2.corral.test"]) await ok("DELETE", `/2/instances/${name}`);
    const left = ip("-n", NS, "-o", "link", "show").split("\n").filter((l) => / master br0 /.test(l));
    assert.deepEqual(left, [], "no tap device left on the bridge");
  });
});
