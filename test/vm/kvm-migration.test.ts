// Live migration of real VMs (QEMU under TCG) between two nodes, each in its own network
// namespace, the two joined by a veth pair: node1 is the master's own agent, node2 a second
// agent joined with `corral node add`'s call; their sharedfile disks live in one directory.
// An idle guest moves there and back, its heartbeat going on on each target's console; a guest
// dirtying 128 MiB (as fast as it can) moves with Corral's defaults, moves back at Ganeti's
// 32 MiB/s with postcopy allowed, and without postcopy is cancelled at the deadline, still
// running on node1. Two boots in all.

import assert from "node:assert/strict";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { execFile, execFileSync } from "node:child_process";
import { dataPaths } from "../../src/master/datadir.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { instanceFiles, isInstanceQemu, readPid } from "../../src/node/hypervisor/kvm/process.ts";
import { call, USERS } from "../support/cluster.ts";
import { consoleMarker as marker, livesOn as guestLivesOn, joinPeerNode, markerOrDeath, startKvmCluster, type KvmCluster, type PeerNode } from "../support/kvm.ts";
import { requireTestGuest } from "../support/test-guest.ts";
import { checkOneBarInPlace } from "../support/terminal.ts";
import { allOf, requireTools } from "../support/tools.ts";

const needs = await requireTestGuest();
const net = requireTools({ tools: ["ip", "tmux"], root: true });
const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

const NODE1 = "node1.corral.test";
const NODE2 = "node2.corral.test";
const IDLE = "idle.corral.test";
const BUSY = "busy.corral.test";
const LOCAL = "local.corral.test";
/** The two ends of the veth pair (a /30 of their own). */
const NODE1_IP = "10.213.78.1";
const NODE2_IP = "10.213.78.2";
/** The shortest migration deadline of both agents: Ganeti's 32 MiB/s gives 256 MiB 3 × 8 s = 24 s. */
const DEADLINE_FLOOR_MS = 10_000;

type Job = Record<string, unknown>;
/** One oplog entry of Ganeti's job: [serial, [seconds, microseconds], type, message]. */
type LogEntry = [number, [number, number], string, string];

allOf(needs, net).describe("live migration of kvm instances between two nodes in two namespaces", () => {
  let c: KvmCluster;
  let node2: PeerNode | undefined;
  const node2Dir = () => node2?.dir ?? assert.fail("node2 was never joined");
  const files = (node: string, name: string) => node === NODE1 ? c.files(name) : instanceFiles(join(node2Dir(), "kvm"), name);
  const info = async (name: string) => (await call(c.port, "GET", `/2/instances/${name}`)).json as Record<string, unknown>;
  const size = (file: string) => existsSync(file) ? statSync(file).size : 0;
  const qemuRuns = (node: string, name: string) => {
    const f = files(node, name);
    const pid = readPid(f.pidfile);
    return pid !== null && isInstanceQemu(pid, f.pidfile);
  };

  /** Submits a job and waits for it to end, whatever its status. */
  const job = async (method: string, path: string, body: unknown, withinMs = 180_000): Promise<Job> => {
    const r = await call(c.port, method, path, { user: "writer", body });
    assert.equal(typeof r.json, "number", `${method} ${path}: ${r.status} ${r.text}`);
    const deadline = Date.now() + withinMs;
    for (;;) {
      const j = (await call(c.port, "GET", `/2/jobs/${String(r.json)}`)).json as Job;
      if (["success", "error", "canceled"].includes(j.status as string)) return j;
      if (Date.now() > deadline) assert.fail(`${method} ${path}: job ${String(r.json)} still ${String(j.status)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const log = (j: Job) => ((j.oplog as LogEntry[][])[0] ?? []).map(([, [s, us], , message]) => ({ at: s * 1000 + us / 1000, message }));
  const migrate = (name: string, target: string) => job("PUT", `/2/instances/${name}/migrate`, { mode: "live", target_node: target });

  /** The last heartbeat number in a console log (of the guest's last boot). */
  const lastBeat = (file: string) => {
    const text = readFileSync(file, "latin1");
    // The guest's last boot only: a guest booted again counts from 1.
    const boot = text.lastIndexOf("CORRAL_BOOT");
    return Math.max(0, ...[...text.slice(Math.max(0, boot)).matchAll(/CORRAL_HB n=(\d+)/g)].map((m) => Number(m[1])));
  };

  /** After a move: the heartbeat goes on on the target's console, counting on from the source's. */
  const beatsOn = (target: string, name: string, lastSeen: number, from: number) =>
    marker(files(target, name).console, new RegExp(`CORRAL_HB n=(${[...Array(10).keys()].map((k) => lastSeen + 1 + k).join("|")}) `), from, 30_000);

  /** After a completed move (see test/support/kvm.ts): whether the guest lives on on `node`. */
  const livesOn = (node: string, name: string, lastSeen: number, from: number) => guestLivesOn(c, node, name, files(node, name).console, lastSeen, from);

  /**
   * After a move of BUSY to `node`: its heartbeat goes on there and it dirties memory again.
   * QEMU 7.2 under TCG: a guest that dirties memory this fast oopses, or falls silent, after
   * some migrations, driven by Corral or by the bench's raw QMP driver alike (bench/README.md,
   * "Live migration"). The target's QEMU runs the migrated guest (livesOn checks); it is
   * booted again there so that the next case has a live dirtying guest.
   */
  const dirtyingOn = async (node: string, beat: number, from: number) => {
    const after = await livesOn(node, BUSY, beat, from);
    if (after.alive) return await marker(files(node, BUSY).console, /CORRAL_DIRTY /, after.end, 30_000);
    const at = size(files(node, BUSY).console);
    await c.ok("PUT", `/2/instances/${BUSY}/shutdown`, { timeout: 0 });
    await c.ok("PUT", `/2/instances/${BUSY}/startup`, {});
    return await marker(files(node, BUSY).console, /CORRAL_DIRTY /, at);
  };

  const progressLines = (j: Job) => log(j).filter((e) => e.message.startsWith("* memory transfer progress:"));

  before(async () => {
    c = await startKvmCluster({ guest: needs.guest, ipPath: net.path("ip"), nodeIp: NODE1_IP, kvm: { migrationDeadlineFloorMs: DEADLINE_FLOOR_MS } });
    try {
      await c.ok("PUT", "/2/modify", { enabled_disk_templates: ["sharedfile", "file", "diskless"], ipolicy: { "disk-templates": ["sharedfile", "file", "diskless"] } });
      node2 = await joinPeerNode(c, { prefix: "cmig", name: NODE2, nearIp: NODE1_IP, farIp: NODE2_IP, kvm: { migrationDeadlineFloorMs: DEADLINE_FLOOR_MS } });
    } catch (err) {
      await closeAll();
      throw err;
    }
  });

  const closeAll = async () => {
    await node2?.close([IDLE, BUSY, LOCAL]);
    await c?.close([IDLE, BUSY, LOCAL]);
  };
  after(closeAll);

  const create = (name: string, kernelArgs: string) =>
    c.ok("POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "sharedfile", disks: [{ size: 1024 }], pnode: NODE1,
      nics: [{ mode: "bridged", link: "br0" }], os_type: "corral-marker+default", hypervisor: "kvm",
      hvparams: { kernel_args: `console=ttyS0 quiet ${kernelArgs}` }, beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
      ip_check: false, name_check: false,
    });

  it("an idle guest migrates live to node2 and back; its heartbeat goes on on each target's console", async () => {
    await create(IDLE, "");
    await marker(files(NODE1, IDLE).console, /CORRAL_HB n=1 /);
    for (const [source, target] of [[NODE1, NODE2], [NODE2, NODE1]]) {
      const from = size(files(target, IDLE).console);
      const beat = lastBeat(files(source, IDLE).console);
      const j = await migrate(IDLE, target);
      assert.equal(j.status, "success", JSON.stringify(j.opresult));
      const done = log(j).find((e) => e.message.startsWith("* memory transfer complete:"));
      assert.match(done?.message ?? "", /: precopy, total time \d+\.\d+ s, downtime \d+ ms, \d+ MiB sent$/);
      console.log(`idle ${source} → ${target}: ${done?.message}`);
      assert.equal((await info(IDLE)).pnode, target);
      assert.equal(qemuRuns(source, IDLE), false, `the QEMU on ${source} was quit`);
      await livesOn(target, IDLE, beat, from);
    }
  });

  it("`corral job watch` of a migration in a terminal (tmux): one progress bar, updated in place, then the job's end and exit 0", async () => {
    // 8 MiB/s: the ~70 MiB of the idle guest take ~9 s, a progress line every ~0.5 s.
    const before = ((await call(c.port, "GET", "/2/info")).json as { hvparams: { kvm: Record<string, unknown> } }).hvparams.kvm.migration_bandwidth;
    await c.ok("PUT", "/2/modify", { hvparams: { kvm: { migration_bandwidth: 8 } } });
    const socket = `corral-cli-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync(net.path("tmux"), ["-L", socket, ...args], { encoding: "utf8", env: { ...process.env, LANG: "C.UTF-8" } });
    writeFileSync(join(c.dataDir, "cli-password"), `${USERS.writer}\n`);
    const cliEnv = { CORRAL_RAPI_URL: `http://127.0.0.1:${c.port}`, CORRAL_RAPI_USER: "writer", CORRAL_RAPI_PASSWORD_FILE: join(c.dataDir, "cli-password") };
    const screens: string[] = [];
    try {
      // Submitted, then watched: `corral job watch` is what follows a job in a terminal.
      // Not execFileSync: the master runs in this process and must answer meanwhile.
      const submitted = await new Promise<string>((resolve, reject) =>
        execFile(CORRAL, ["instance", "migrate", IDLE, "-n", NODE2, "--submit"], { encoding: "utf8", env: { ...process.env, ...cliEnv }, timeout: 60_000 }, (err, out, stderr) =>
          err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(out)));
      const id = /^JobID: (\d+)$/m.exec(submitted)?.[1];
      assert.ok(id, submitted);
      const command = `${Object.entries(cliEnv).map(([k, v]) => `${k}=${v}`).join(" ")} ${CORRAL} job watch ${id}; echo CORRAL_EXIT=$?; sleep 120`;
      tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "40", command);
      const deadline = Date.now() + 120_000;
      while (!screens.at(-1)?.includes("CORRAL_EXIT=")) {
        if (Date.now() > deadline) assert.fail(`no end within 120 s; the screen: ${screens.at(-1)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
        screens.push(tmux("capture-pane", "-p", "-t", "cli"));
      }
    } finally {
      try {
        tmux("kill-server");
      } catch {
        // already gone
      }
      await c.ok("PUT", "/2/modify", { hvparams: { kvm: { migration_bandwidth: before ?? 0 } } });
    }
    const bar = /memory transfer \[.+\] (\d+)% /;
    // One bar, in place; the job's other lines (a raised downtime limit mid-transfer) print above it.
    const percents = checkOneBarInPlace(screens, bar);
    assert.ok(percents.length >= 3, `the bar moved: ${percents.join(", ")}`);
    const last = screens.at(-1)!;
    assert.match(last, /\* memory transfer complete: precopy/);
    assert.match(last, /CORRAL_EXIT=0/);
    assert.doesNotMatch(last, /\* memory transfer progress:/, "progress lines become the bar on a terminal");
    console.log(`tmux: ${screens.length} screens, bar at ${percents.join(" ")} %`);
    assert.equal((await info(IDLE)).pnode, NODE2);
    // Back to node1 for the next cases.
    assert.equal((await migrate(IDLE, NODE1)).status, "success");
  });

  it("a guest on a file disk moves live with its storage (migrate_storage), and back over TLS (migrate_tls): data and writes made meanwhile arrive intact", async () => {
    const MiB = 1024 * 1024;
    const diskFile = (dir: string) => {
      const d = join(dir, LOCAL);
      const f = existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(".file.disk0")) : [];
      return f.length === 1 ? join(d, f[0]) : null;
    };
    const md5Of = (file: string, offsetMiB: number, lengthMiB: number) => {
      const fd = openSync(file, "r");
      try {
        const buf = Buffer.alloc(lengthMiB * MiB);
        readSync(fd, buf, 0, buf.length, offsetMiB * MiB);
        return createHash("md5").update(buf).digest("hex");
      } finally {
        closeSync(fd);
      }
    };
    const node1Files = dataPaths(c.dataDir).fileStorage;
    const node2Files = join(node2Dir(), "file-storage");
    await c.ok("POST", "/2/instances", {
      __version__: 1, mode: "create", name: LOCAL, disk_template: "file", disks: [{ size: 1024 }], pnode: NODE1, start: false,
      nics: [{ mode: "bridged", link: "br0" }], os_type: "corral-marker+default", hypervisor: "kvm", beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
      hvparams: { kernel_args: "console=ttyS0 quiet corral.md5=1 corral.diskwrite=1" }, ip_check: false, name_check: false,
    });
    const source = diskFile(node1Files);
    assert.ok(source, `the file disk under ${node1Files}`);
    // 64 MiB the guest only reads: they must arrive as they are.
    const fd = openSync(source, "r+");
    writeSync(fd, randomBytes(64 * MiB), 0, 64 * MiB, 0);
    closeSync(fd);
    const seeded = md5Of(source, 0, 64);
    await c.ok("PUT", `/2/instances/${LOCAL}/startup`, {});
    await marker(files(NODE1, LOCAL).console, new RegExp(`CORRAL_MD5 vda ${seeded}`));
    await marker(files(NODE1, LOCAL).console, /CORRAL_DISKW n=3 /);

    // Without Corral's extension, Ganeti's refusal.
    const refused = await migrate(LOCAL, NODE2);
    assert.equal(refused.status, "error");
    assert.match(JSON.stringify(refused.opresult), /Instance's disk layout 'file' does not allow migrations/);

    const from = size(files(NODE2, LOCAL).console);
    const beat = lastBeat(files(NODE1, LOCAL).console);
    const j = await job("PUT", `/2/instances/${LOCAL}/migrate`, { mode: "live", target_node: NODE2, migrate_storage: true });
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
    const messages = log(j).map((e) => e.message);
    const done = messages.find((m) => m.startsWith("* memory transfer complete:"));
    console.log(`file disk 1 GiB with its storage: ${done}; ${messages.filter((m) => m.startsWith("* disk mirror progress:")).length} disk progress lines`);
    assert.match(done ?? "", /: precopy, total time \d+\.\d+ s, downtime \d+ ms, \d+ MiB sent; disks mirrored in \d+\.\d+ s$/);
    assert.ok(messages.some((m) => /^\* disks mirrored: 1024 MiB in \d+\.\d+ s \([\d.]+ MiB copied, guest writes included\); moving the memory$/.test(m)), JSON.stringify(messages));
    assert.equal((await info(LOCAL)).pnode, NODE2);
    assert.equal(qemuRuns(NODE1, LOCAL), false);
    assert.equal(existsSync(source), false, "the old disk is removed after the migration succeeded");
    const target = diskFile(node2Files);
    assert.ok(target, `the new file disk under ${node2Files}`);
    const { alive } = await livesOn(NODE2, LOCAL, beat, from);
    // Writes go on on the target; every write the guest reported (synced) is in the target's file.
    const writes = new Map<number, { n: number; md5: string }>();
    const lastWrite = () => Math.max(...[...writes.values()].map((w) => w.n));
    const readWrites = () => {
      for (const file of [files(NODE1, LOCAL).console, files(NODE2, LOCAL).console]) {
        for (const m of readFileSync(file, "latin1").matchAll(/CORRAL_DISKW n=(\d+) mib=(\d+) md5=([0-9a-f]{32})/g)) {
          const [n, mib] = [Number(m[1]), Number(m[2])];
          if ((writes.get(mib)?.n ?? 0) < n) writes.set(mib, { n, md5: m[3] });
        }
      }
    };
    readWrites();
    const before = lastWrite();
    let writing = alive;
    if (alive) {
      // It lived on; it may still die of the TCG defect before its next writes (seen in CI).
      const next = new RegExp(`CORRAL_DISKW n=${Math.max(before + 2, 12)} `);
      const r = await markerOrDeath(files(NODE2, LOCAL).console, next, from, 30_000);
      assert.ok(r.found || r.death !== null, `no ${next} on node2's console within 30 s, and no sign the guest died`);
      if (r.death !== null) console.log(`${LOCAL} on ${NODE2}: the guest died after its move (QEMU TCG defect, see bench/README.md): ${r.death}`);
      writing = r.found;
    }
    readWrites();
    const latest = lastWrite();
    // The one being written now is the slot after the latest report.
    const busy = 64 + ((latest + 1) % 16);
    const checked = [...writes.entries()].filter(([mib]) => mib !== busy);
    assert.ok(checked.length >= (writing ? 10 : 2), `${checked.length} written MiB to check`);
    for (const [mib, w] of checked) assert.equal(md5Of(target, mib, 1), w.md5, `MiB ${mib} (write ${w.n}) on node2's disk`);
    assert.equal(md5Of(target, 0, 64), seeded, "the first 64 MiB arrived as they were");

    // Back to node1, encrypted (memory stream and NBD mirror over TLS; node1's QEMU takes nothing else).
    const from1 = size(files(NODE1, LOCAL).console);
    const beat2 = lastBeat(files(NODE2, LOCAL).console);
    const back = await job("PUT", `/2/instances/${LOCAL}/migrate`, { mode: "live", target_node: NODE1, migrate_storage: true, migrate_tls: true });
    assert.equal(back.status, "success", JSON.stringify(back.opresult));
    const backLog = log(back).map((e) => e.message);
    assert.ok(backLog.includes(`* migrating instance to ${NODE1} (encrypted: TLS with the cluster's certificates)`), JSON.stringify(backLog));
    console.log(`file disk 1 GiB with its storage, TLS: ${backLog.find((m) => m.startsWith("* memory transfer complete:"))}`);
    assert.equal((await info(LOCAL)).pnode, NODE1);
    assert.equal(existsSync(target), false, "node2's disk is removed after the migration back");
    const home = diskFile(node1Files);
    assert.ok(home, `the new file disk under ${node1Files}`);
    await livesOn(NODE1, LOCAL, beat2, from1);
    assert.equal(md5Of(home, 0, 64), seeded, "the first 64 MiB arrived as they were, twice");
    // node1 took the stream with a certificate of its own, signed by the cluster certificate.
    const serverCert = new X509Certificate(readFileSync(join(dirname(files(NODE1, LOCAL).dir), "migration-tls", "server", "server-cert.pem")));
    assert.ok(serverCert.verify(new X509Certificate(readFileSync(clusterCertPaths(c.dataDir).cert)).publicKey), "signed by the cluster certificate");
    assert.equal(serverCert.ca, false);
    // Stopped at once first: a guest that died after a move (see livesOn) ignores the ACPI
    // power-down a removal would wait for until its shutdown timeout.
    await c.ok("PUT", `/2/instances/${LOCAL}/shutdown`, { timeout: 0 });
    await c.ok("DELETE", `/2/instances/${LOCAL}`, undefined);
  });

  it("a guest dirtying 128 MiB converges to node2 with Corral's defaults (unlimited bandwidth, 30 ms)", async () => {
    await c.ok("PUT", "/2/modify", { hvparams: { kvm: { migration_bandwidth: 0 } } });
    await create(BUSY, "corral.dirty=128");
    await marker(files(NODE1, BUSY).console, /CORRAL_DIRTY /);
    const from = size(files(NODE2, BUSY).console);
    const beat = lastBeat(files(NODE1, BUSY).console);
    const j = await migrate(BUSY, NODE2);
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
    const done = log(j).find((e) => e.message.startsWith("* memory transfer complete:"));
    console.log(`dirty 128 MiB, Corral defaults: ${done?.message}; ${progressLines(j).length} progress lines`);
    assert.match(done?.message ?? "", /: precopy, total time \d+\.\d+ s, downtime \d+ ms, \d+ MiB sent$/);
    assert.equal((await info(BUSY)).pnode, NODE2);
    assert.equal(qemuRuns(NODE1, BUSY), false);
    assert.equal(qemuRuns(NODE2, BUSY), true);
    await dirtyingOn(NODE2, beat, from);
  });

  it("at Ganeti's 32 MiB/s with postcopy-ram allowed it switches to postcopy and moves back to node1", async () => {
    await c.ok("PUT", "/2/modify", { hvparams: { kvm: { migration_bandwidth: 32 } } });
    await c.ok("PUT", `/2/instances/${BUSY}/modify`, { hvparams: { migration_caps: "postcopy-ram" } });
    const from = size(files(NODE1, BUSY).console);
    const beat = lastBeat(files(NODE2, BUSY).console);
    const j = await migrate(BUSY, NODE1);
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
    const done = log(j).find((e) => e.message.startsWith("* memory transfer complete:"));
    console.log(`dirty 128 MiB, 32 MiB/s, postcopy: ${done?.message}`);
    assert.ok(log(j).some((e) => /^\* switching to postcopy at pass \d+/.test(e.message)), JSON.stringify(log(j).map((e) => e.message)));
    assert.match(done?.message ?? "", /: postcopy, total time/);
    assert.equal((await info(BUSY)).pnode, NODE1);
    await dirtyingOn(NODE1, beat, from);
  });
  it("at Ganeti's 32 MiB/s + 30 ms without postcopy it is cancelled at the deadline and runs on on node1", async () => {
    // Last: a QEMU whose migration was cancelled is not migrated again here (see the report in the README).
    await c.ok("PUT", `/2/instances/${BUSY}/modify`, { hvparams: { migration_caps: "" } });
    const t0 = Date.now();
    const j = await migrate(BUSY, NODE2);
    const took = Date.now() - t0;
    assert.equal(j.status, "error");
    const error = JSON.stringify(j.opresult);
    console.log(`cancel after ${took} ms: ${error}`);
    assert.match(error, /OpExecError/);
    // The limit doubles from 30 ms at each raise up to QEMU's 300 ms; how many raises fit in the
    // deadline depends on the passes this machine's load allows (a loaded run reached 240 ms).
    const raises = log(j).flatMap((e) => {
      const m = /^\* raising the downtime limit from (\d+) to (\d+) ms at pass \d+/.exec(e.message);
      return m ? [[Number(m[1]), Number(m[2])] as const] : [];
    });
    assert.ok(raises.length >= 2, `the limit was raised: ${JSON.stringify(raises)}`);
    raises.forEach(([from, to], i) => {
      assert.equal(from, i === 0 ? 30 : raises[i - 1][1], "each raise starts from the last");
      assert.equal(to, Math.min(300, from * 2), "doubled, up to 300 ms");
    });
    const limit = raises[raises.length - 1][1];
    assert.match(error, new RegExp(`Could not migrate instance busy\\.corral\\.test: migration did not converge within 24 s \\(the deadline for 256 MiB at 32 MiB/s, at least 10 s\\): pass \\d+, [\\d.]+ of [\\d.]+ MiB left, guest dirtying [\\d.]+ MiB/s, expected downtime \\d+ ms over the ${limit} ms limit \\(postcopy-ram not in migration_caps\\); cancelled`));
    assert.ok(took >= 24_000 && took < 40_000, `the job took ${took} ms for a 24 s deadline`);
    // Progress at least every second while memory moved, with Ganeti's figures.
    const progress = progressLines(j);
    assert.ok(progress.length >= 20, `${progress.length} progress lines`);
    assert.match(progress[progress.length - 1].message, /^\* memory transfer progress: [\d.]+ % \(\d+\/\d+ MiB, pass \d+, dirty rate [\d.]+ MiB\/s, expected downtime \d+ ms \(limit \d+ ms\), precopy\)$/);
    const gaps = progress.slice(1).map((e, i) => e.at - progress[i].at);
    assert.ok(Math.max(...gaps) <= 1500, `largest gap between progress lines: ${Math.max(...gaps)} ms`);
    // The guest runs on on node1 (its heartbeat goes on there); node2 holds no QEMU for it.
    assert.equal((await info(BUSY)).pnode, NODE1);
    assert.equal((await info(BUSY)).status, "running");
    const beat = lastBeat(files(NODE1, BUSY).console);
    await beatsOn(NODE1, BUSY, beat, size(files(NODE1, BUSY).console));
    assert.equal(qemuRuns(NODE2, BUSY), false, "no QEMU left on node2");
    assert.equal(existsSync(files(NODE2, BUSY).runtime), false);
  });

});
