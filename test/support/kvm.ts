// A master whose own node runs real QEMU (TCG) for kvm instances, inside a network namespace
// the suite creates with a bridge `br0` in it (taps, VNC and migration ports stay there, and
// QMP and the serial console are unix sockets the test reaches from outside). The cluster has
// kvm enabled with the test guest's kernel and initramfs as the defaults. With `pvcConfig` the
// master serves the PVC API too.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMaster, type Master, type MasterOptions } from "../../src/master/master.ts";
import { dataPaths } from "../../src/master/datadir.ts";
import type { KvmOptions } from "../../src/node/hypervisor/kvm/kvm.ts";
import { instanceFiles, isInstanceQemu, readPid, type InstanceFiles } from "../../src/node/hypervisor/kvm/process.ts";
import { addNode } from "../../src/client/nodes.ts";
import { RapiClient } from "../../src/client/rapi.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { runNodeAgent, type RunningNodeAgent } from "../../src/node/index.ts";
import { call, USERS, usersFileText } from "./cluster.ts";
import type { TestGuest } from "./test-guest.ts";

/** How long one TCG boot may take on a loaded two-core machine. */
export const BOOT_MS = 90_000;

export interface KvmCluster {
  master: Master;
  readonly port: number;
  /** The master's RAPI, http or https as the cluster was started. */
  readonly url: string;
  readonly dataDir: string;
  readonly netns: string;
  /** The PVC API's port (only with `pvcConfig`). */
  readonly pvcPort: number;
  /** The files of instance `name` on the master's node (console.log, pidfile…). */
  files(name: string): InstanceFiles;
  /** Stops the master and starts it again on the same data directory (the VMs keep running). */
  restart(): Promise<void>;
  /** Runs `ip` with these arguments; its output. */
  ip(...args: string[]): string;
  /** Submits as "writer" and waits; the job must succeed. */
  ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** Stops the master, kills the QEMUs of these instances that still run, removes the namespace. */
  close(instances: readonly string[]): Promise<void>;
}

export interface KvmClusterOptions {
  guest: TestGuest;
  ipPath: string;
  ssl?: boolean;
  /** The text of a pvc-api.yaml (test/pvc/support.ts's pvcYaml()): the master serves the PVC API too. */
  pvcConfig?: string;
  /** The master's node address (default 127.0.0.1), e.g. its end of a veth into another test namespace. */
  nodeIp?: string;
  /** More options of the master's own kvm hypervisor (the namespace and TCG are set). */
  kvm?: Omit<KvmOptions, "stateDir" | "netns" | "defaultAccelerator">;
}

export async function startKvmCluster(o: KvmClusterOptions): Promise<KvmCluster> {
  const netns = `corral-kvm-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const ip = (...args: string[]) => execFileSync(o.ipPath, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const dir = mkdtempSync(join(tmpdir(), "corral-kvm-"));
  const dataDir = join(dir, "data");
  const usersFile = join(dir, "users");
  writeFileSync(usersFile, usersFileText());
  let pvcConfigFile: string | undefined;
  if (o.pvcConfig !== undefined) {
    pvcConfigFile = join(dir, "pvc-api.yaml");
    writeFileSync(pvcConfigFile, o.pvcConfig);
  }
  ip("netns", "add", netns);
  ip("-n", netns, "link", "set", "lo", "up");
  ip("-n", netns, "link", "add", "br0", "type", "bridge");
  ip("-n", netns, "link", "set", "br0", "up");
  const options: MasterOptions = {
    dataDir, port: 0, bind: "127.0.0.1", ssl: o.ssl ?? false, usersFile, requireAuthentication: false, maxClients: 20,
    clusterName: "cluster.corral.test", nodeName: "node1.corral.test", log: () => undefined, announce: () => undefined,
    // Ten minutes between periodic refreshes: whatever changes sooner is seen through events.
    liveRefreshMs: 600_000,
    kvm: { ...o.kvm, netns, defaultAccelerator: "tcg" },
    pvcConfigFile,
    ...(o.nodeIp !== undefined ? { nodeIp: o.nodeIp } : {}),
  };
  const kvmRoot = join(dataPaths(dataDir).nodeState, "kvm");
  const cluster: KvmCluster = {
    master: await startMaster(options),
    get port() {
      return cluster.master.port;
    },
    get url() {
      return `${options.ssl ? "https" : "http"}://127.0.0.1:${cluster.master.port}`;
    },
    dataDir,
    netns,
    get pvcPort() {
      const port = cluster.master.pvcPort;
      if (port === undefined) throw new Error("this kvm cluster was started without pvcConfig");
      return port;
    },
    files: (name) => instanceFiles(kvmRoot, name),
    async restart() {
      await cluster.master.close();
      cluster.master = await startMaster(options);
    },
    ip,
    async ok(method, path, body) {
      const ssl = options.ssl;
      const r = await call(cluster.port, method, path, { user: "writer", body }, ssl);
      assert.equal(typeof r.json, "number", `${method} ${path}: ${r.status} ${r.text}`);
      const deadline = Date.now() + BOOT_MS;
      for (;;) {
        const job = (await call(cluster.port, "GET", `/2/jobs/${String(r.json)}`, {}, ssl)).json as Record<string, unknown>;
        if (["success", "error", "canceled"].includes(job.status as string)) {
          assert.equal(job.status, "success", `${method} ${path}: ${JSON.stringify(job.opresult)}`);
          return job;
        }
        if (Date.now() > deadline) assert.fail(`${method} ${path}: job ${String(r.json)} still ${String(job.status)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close(instances) {
      await cluster.master.close();
      // Any QEMU left (a failed test) is this suite's: checked by its pidfile and cmdline.
      for (const name of instances) {
        const f = cluster.files(name);
        const pid = readPid(f.pidfile);
        if (pid !== null && isInstanceQemu(pid, f.pidfile)) process.kill(pid, "SIGKILL");
      }
      try {
        ip("netns", "del", netns);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Half-made, the cluster would keep the test process alive: close it if enabling kvm fails.
  await cluster.ok("PUT", "/2/modify", {
    enabled_hypervisors: ["kvm", "fake"],
    hvparams: {
      kvm: {
        kernel_path: o.guest.kernel, initrd_path: o.guest.initrd, kernel_args: "console=ttyS0 quiet",
        root_path: "", vnc_bind_address: "127.0.0.1", kvm_flag: "disabled",
      },
    },
  }).catch(async (err: unknown) => {
    await cluster.close([]);
    throw err;
  });
  return cluster;
}

/** Resolves once `pattern` appears in the file beyond `from` characters; the offset just past it. */
export async function consoleMarker(file: string, pattern: RegExp, from = 0, timeoutMs = BOOT_MS): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, "latin1") : "";
    const m = pattern.exec(text.slice(from));
    if (m) return from + m.index + m[0].length;
    if (Date.now() > deadline) assert.fail(`no ${pattern} in ${file} after ${timeoutMs} ms; its end: ${JSON.stringify(text.slice(-600))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * After a live move: the guest's next heartbeat (n > lastSeen) on `console` past `from`, or its
 * death instead: the oops line it printed, or "no heartbeat within N s". QEMU 7.2 under TCG
 * kills some guests in precopy (bench/README.md, "Live migration"); the caller checks that the
 * target's QEMU runs the domain and records the death rather than failing on it.
 */
export async function heartbeatOrDeath(console: string, lastSeen: number, from: number, withinMs = 30_000): Promise<{ end: number; death: string | null }> {
  const beat = new RegExp(`CORRAL_HB n=(${[...Array(10).keys()].map((k) => lastSeen + 1 + k).join("|")}) `);
  const r = await markerOrDeath(console, beat, from, withinMs);
  return { end: r.end, death: r.death ?? (r.found ? null : `no heartbeat within ${withinMs / 1000} s`) };
}

/** What a guest kernel prints as it dies (an oops, a fault in init, a panic). */
const GUEST_DEATH = /(BUG: |Oops: |general protection fault|Kernel panic|exited with irqs disabled)[^\n]*/;

/**
 * `pattern` on `console` past `from`, or the guest's death before it (GUEST_DEATH), within
 * `withinMs`: a guest that lived on just after a move may still die of QEMU 7.2's TCG defect
 * a little later; callers record that death as livesOn does instead of failing on it.
 */
export async function markerOrDeath(console: string, pattern: RegExp, from: number, withinMs: number): Promise<{ end: number; found: boolean; death: string | null }> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const text = existsSync(console) ? readFileSync(console, "latin1").slice(from) : "";
    const m = pattern.exec(text);
    const oops = GUEST_DEATH.exec(text);
    // A death anywhere past `from` counts, even after the marker: what follows it is not to be trusted.
    if (oops) return { end: from + text.length, found: false, death: oops[0] };
    if (m) return { end: from + m.index + m[0].length, found: true, death: null };
    if (Date.now() > deadline) return { end: from + text.length, found: false, death: null };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * After a completed live move of `name` to `node`: whether its heartbeat goes on on `console`
 * (its console log there) past `lastSeen`, and the offset just past that heartbeat. A guest
 * that died there instead (QEMU 7.2's TCG defect in precopy, see heartbeatOrDeath) is recorded
 * once the node's QEMU is seen to run the domain.
 */
export async function livesOn(c: KvmCluster, node: string, name: string, console: string, lastSeen: number, from: number): Promise<{ alive: boolean; end: number }> {
  const r = await heartbeatOrDeath(console, lastSeen, from);
  if (r.death === null) return { alive: true, end: r.end };
  assert.equal(await domainState(c, node, name), "running", `the QEMU of ${name} on ${node} runs the guest (${r.death})`);
  globalThis.console.log(`${name} on ${node}: the guest did not live on after a migration (QEMU TCG defect, see bench/README.md): ${r.death}`);
  return { alive: false, end: r.end };
}

/** The state of instance `name`'s domain as `node`'s agent sees it (over the master's connection). */
export async function domainState(c: KvmCluster, node: string, name: string): Promise<string | undefined> {
  const n = [...c.master.store.snapshot().nodes.values()].find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node}`);
  return (await c.master.connections.client(n).instanceInfo({ name, hypervisor: "kvm" }))?.state;
}

/** A second node's network namespace (with its own br0), joined to the cluster's by a veth pair on a /30. */
export interface PeerNamespace {
  readonly name: string;
  /** The veth end inside the cluster's namespace (set it down there to cut the link). */
  readonly nearVeth: string;
  /** SIGKILLs the QEMUs of these instances under `kvmRoot` (checked by pidfile and cmdline), deletes the namespace. */
  close(kvmRoot: string, instances: readonly string[]): void;
}

export function peerNamespace(c: KvmCluster, prefix: string, nearIp: string, farIp: string): PeerNamespace {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const suffix = Math.floor(Math.random() * 1e5).toString(36);
  const [near, far] = [`${prefix.slice(0, 6)}${suffix}a`, `${prefix.slice(0, 6)}${suffix}b`];
  const close = (kvmRoot: string, instances: readonly string[]) => {
    for (const instance of instances) {
      const f = instanceFiles(kvmRoot, instance);
      const pid = readPid(f.pidfile);
      if (pid !== null && isInstanceQemu(pid, f.pidfile)) process.kill(pid, "SIGKILL");
    }
    try {
      c.ip("netns", "del", name);
    } catch {
      // never made, or gone
    }
  };
  try {
    c.ip("netns", "add", name);
    c.ip("-n", name, "link", "set", "lo", "up");
    c.ip("-n", name, "link", "add", "br0", "type", "bridge");
    c.ip("-n", name, "link", "set", "br0", "up");
    c.ip("link", "add", near, "type", "veth", "peer", "name", far);
    c.ip("link", "set", near, "netns", c.netns);
    c.ip("link", "set", far, "netns", name);
    c.ip("-n", c.netns, "addr", "add", `${nearIp}/30`, "dev", near);
    c.ip("-n", name, "addr", "add", `${farIp}/30`, "dev", far);
    c.ip("-n", c.netns, "link", "set", near, "up");
    c.ip("-n", name, "link", "set", far, "up");
  } catch (err) {
    close("", []);
    throw err;
  }
  return { name, nearVeth: near, close };
}

/** A second kvm node: its agent runs in this process, its QEMUs in a peer namespace. */
export interface PeerNode {
  readonly name: string;
  readonly dir: string;
  readonly peer: PeerNamespace;
  /** Stops the agent, kills the QEMUs of these instances it still runs, removes its namespace and directory. */
  close(instances: readonly string[]): Promise<void>;
}

export interface PeerNodeOptions {
  /** The namespace's name prefix (short: it also names the veth pair). */
  prefix: string;
  name: string;
  nearIp: string;
  farIp: string;
  /** More options of the node's kvm hypervisor (the namespace and TCG are set). */
  kvm?: Omit<KvmOptions, "stateDir" | "netns" | "defaultAccelerator">;
}

/**
 * Makes the peer namespace, starts a node agent for it with the cluster's certificate and
 * shared-file directory, and adds it to the cluster as `name` at `farIp`. Whatever was made
 * is undone when a step fails.
 */
export async function joinPeerNode(c: KvmCluster, o: PeerNodeOptions): Promise<PeerNode> {
  const peer = peerNamespace(c, o.prefix, o.nearIp, o.farIp);
  const dir = mkdtempSync(join(tmpdir(), `corral-${o.prefix}-node-`));
  let agent: RunningNodeAgent | undefined;
  const close = async (instances: readonly string[]) => {
    await agent?.close();
    peer.close(join(dir, "kvm"), instances);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { cert, key } = clusterCertPaths(c.dataDir);
    agent = await runNodeAgent({
      bind: "127.0.0.1", port: 0, certFile: cert, keyFile: key, stateDir: dir, nodeName: o.name,
      sharedFileStorageDir: dataPaths(c.dataDir).sharedFileStorage,
      kvm: { ...o.kvm, netns: peer.name, defaultAccelerator: "tcg" },
    });
    await addNode(new RapiClient({ url: c.url, user: "writer", password: USERS.writer, insecure: true }), { name: o.name, endpoint: agent.endpoint, primaryIp: o.farIp });
  } catch (err) {
    await close([]);
    throw err;
  }
  return { name: o.name, dir, peer, close };
}
