// `corral node`: the node agent daemon (with no subcommand), and the admin subcommands
// that join a running agent to the cluster, take a node out, and list nodes.

import { existsSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { addNode, removeNode } from "../client/nodes.ts";
import type { JobLogEntry, RapiClient } from "../client/rapi.ts";
import { DEFAULT_NODE_PORT, runNodeAgent } from "../node/index.ts";
import { intOption, stopOnSignals } from "./args.ts";
import { connect, CONNECTION_OPTIONS, CONNECTION_USAGE } from "./connection.ts";

export function defaultNodeStateDir(): string {
  if (process.env.CORRAL_NODE_DIR) return process.env.CORRAL_NODE_DIR;
  const base = process.env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return join(base, "corral-node");
}

/** Flags for PVC managed networks, the same on `corral master` and the agent. */
export const NETWORK_OPTIONS = {
  "pvc-apply-networks": { type: "boolean" },
  "pvc-networks-netns": { type: "string" },
} as const;

export const NETWORK_USAGE = `      --pvc-apply-networks     PVC managed networks: load their nftables rules, create their
                               bridges with the gateway addresses and run dnsmasq on this
                               machine (default: only render and check the configuration)
      --pvc-networks-netns NAME
                               with --pvc-apply-networks: all of that inside the network
                               namespace NAME, not the machine's own`;

/** The PVC network flags, checked: a namespace without applying is a mistake worth stopping for. */
export function networkFlags(v: { "pvc-apply-networks"?: boolean; "pvc-networks-netns"?: string }): { apply: boolean; netns?: string } {
  const netns = v["pvc-networks-netns"];
  if (netns !== undefined && !v["pvc-apply-networks"]) throw new Error("--pvc-networks-netns needs --pvc-apply-networks");
  return netns === undefined ? { apply: v["pvc-apply-networks"] === true } : { apply: true, netns };
}

/** How the agent's log names the network setting, when it applies anything. */
export function networkNote(net: { apply: boolean; netns?: string }): string {
  if (!net.apply) return "";
  return `PVC managed networks are applied${net.netns ? ` in network namespace ${net.netns}` : " on this machine"}`;
}

export const NODE_USAGE = `Usage:
  corral node [agent options]            run the node agent (also: corral node-agent)
  corral node add NAME --endpoint URL    join the agent at URL to the cluster as node NAME
  corral node remove NAME                take node NAME out of the cluster
  corral node list                       list the cluster's nodes

Agent options:
  -b, --bind ADDRESS           address to listen on (default 0.0.0.0)
  -p, --port PORT              port (default ${DEFAULT_NODE_PORT})
      --state-dir DIR          the agent's own directory (default ${defaultNodeStateDir()})
      --node-name NAME         this node's name in the cluster (default: the host name)
      --cluster-cert FILE      the cluster certificate, a copy of the master's
                               DATA_DIR/cluster/cluster.pem (default STATE_DIR/cluster.pem)
      --cluster-key FILE       its key, from DATA_DIR/cluster/cluster.key (default STATE_DIR/cluster.key)
      --memory MIB             memory the fake hypervisor offers (default 32768)
      --file-storage-dir DIR   where file disks live (default STATE_DIR/file-storage)
      --shared-file-storage-dir DIR
                               where sharedfile disks live: the same shared file system on
                               every node (default STATE_DIR/shared-file-storage)
      --kvm-netns NAME         run the kvm hypervisor's QEMU processes and taps inside the
                               existing network namespace NAME (tests)
      --kvm-migration-deadline-floor MS
                               the shortest time a kvm precopy migration may take before it
                               is cancelled (default 60000)
${NETWORK_USAGE}

corral node add options:
      --endpoint URL           the agent, https://host:port (required)
      --group GROUP            node group (needed when there is more than one)
      --primary-ip IP          the node's address (default: the endpoint's host, resolved)
      --secondary-ip IP        replication address (default: the primary IP)
      --no-master-capable      never a master candidate
      --no-vm-capable          hosts no instances
      --readd                  re-add a node that is already in the configuration

${CONNECTION_USAGE}`;

const HELP = { help: { type: "boolean", short: "h" } } as const;


/** Prints a job's log lines as they come, like gnt-* commands do. */
const printLog = (entry: JobLogEntry) => {
  const [, [sec], , message] = entry;
  process.stdout.write(`${new Date(sec * 1000).toISOString().replace("T", " ").slice(0, 19)} ${String(message)}\n`);
};

async function agent(args: string[], log: (line: string) => void): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...HELP,
      bind: { type: "string", short: "b" },
      port: { type: "string", short: "p" },
      "state-dir": { type: "string" },
      "node-name": { type: "string" },
      "cluster-cert": { type: "string" },
      "cluster-key": { type: "string" },
      memory: { type: "string" },
      "file-storage-dir": { type: "string" },
      "shared-file-storage-dir": { type: "string" },
      "kvm-netns": { type: "string" },
      "kvm-migration-deadline-floor": { type: "string" },
      ...NETWORK_OPTIONS,
    },
  });
  if (v.help) return void process.stdout.write(NODE_USAGE);
  if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'\n\n${NODE_USAGE}`);
  const networkApply = networkFlags(v);
  const stateDir = v["state-dir"] ?? defaultNodeStateDir();
  const certFile = v["cluster-cert"] ?? join(stateDir, "cluster.pem");
  const keyFile = v["cluster-key"] ?? join(stateDir, "cluster.key");
  for (const [what, file] of [["certificate", certFile], ["key", keyFile]]) {
    if (!existsSync(file)) {
      throw new Error(`the cluster ${what} ${file} is missing: copy it from the master's DATA_DIR/cluster/ (see --help)`);
    }
  }
  const nodeName = v["node-name"] ?? hostname();
  const running = await runNodeAgent({
    bind: v.bind ?? "0.0.0.0",
    port: intOption("port", v.port, DEFAULT_NODE_PORT),
    certFile,
    keyFile,
    stateDir,
    nodeName,
    memoryTotal: intOption("memory", v.memory),
    fileStorageDir: v["file-storage-dir"],
    sharedFileStorageDir: v["shared-file-storage-dir"],
    kvm: {
      ...(v["kvm-netns"] !== undefined ? { netns: v["kvm-netns"] } : {}),
      ...(v["kvm-migration-deadline-floor"] !== undefined
        ? { migrationDeadlineFloorMs: intOption("kvm-migration-deadline-floor", v["kvm-migration-deadline-floor"]) }
        : {}),
    },
    networkApply,
  });
  log(`node agent for ${nodeName} listening on ${running.endpoint} (state in ${stateDir})`);
  if (networkApply.apply) log(networkNote(networkApply));
  stopOnSignals(() => running.close(), log);
}

async function add(args: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...HELP,
      ...CONNECTION_OPTIONS,
      endpoint: { type: "string" },
      group: { type: "string" },
      "primary-ip": { type: "string" },
      "secondary-ip": { type: "string" },
      "no-master-capable": { type: "boolean" },
      "no-vm-capable": { type: "boolean" },
      readd: { type: "boolean" },
    },
  });
  if (v.help) return void process.stdout.write(NODE_USAGE);
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new Error("corral node add takes one node name (see corral node --help)");
  const endpoint = v.endpoint;
  if (!endpoint && !v.readd) throw new Error("corral node add needs --endpoint https://host:port of the node's agent");
  const client = connect(v);
  await addNode(client, {
    name,
    endpoint,
    group: v.group,
    primaryIp: v["primary-ip"],
    secondaryIp: v["secondary-ip"],
    masterCapable: v["no-master-capable"] ? false : undefined,
    vmCapable: v["no-vm-capable"] ? false : undefined,
    readd: v.readd === true,
  }, printLog);
  process.stdout.write(`node ${name} joined the cluster at ${client.url}\n`);
}

async function remove(args: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({ args, allowPositionals: true, options: { ...HELP, ...CONNECTION_OPTIONS } });
  if (v.help) return void process.stdout.write(NODE_USAGE);
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new Error("corral node remove takes one node name (see corral node --help)");
  await removeNode(connect(v), name, printLog);
  process.stdout.write(`node ${name} removed from the cluster\n`);
}

async function list(args: string[]): Promise<void> {
  const { values: v } = parseArgs({ args, options: { ...HELP, ...CONNECTION_OPTIONS } });
  if (v.help) return void process.stdout.write(NODE_USAGE);
  const client: RapiClient = connect(v);
  const nodes = (await client.request("GET", "/2/nodes?bulk=1")) as Record<string, unknown>[];
  const rows = [["Node", "Role", "PrimaryIP", "MTotal", "MFree", "Pinst"]];
  for (const n of nodes) rows.push([n.name, n.role, n.pip, n.mtotal ?? "?", n.mfree ?? "?", n.pinst_cnt].map(String));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd() + "\n");
}

/** `corral node …` */
export async function nodeCommand(args: string[], log: (line: string) => void): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "add":
      return add(rest);
    case "remove":
      return remove(rest);
    case "list":
      return list(rest);
    default:
      return agent(args, log);
  }
}

/** `corral node-agent …`: the daemon under an unmistakable name. */
export function nodeAgentCommand(args: string[], log: (line: string) => void): Promise<void> {
  return agent(args, log);
}
