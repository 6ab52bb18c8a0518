// `corral node-agent` (and `corral node` with agent options): the node agent daemon. The
// admin subcommands of `corral node` (list, add, remove…) are in admin/node.ts.

import { existsSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_NODE_PORT, runNodeAgent } from "../node/index.ts";
import { intOption, stopOnSignals } from "./args.ts";

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
  corral node-agent [agent options]      run the node agent (also: corral node [agent options])
  corral node --help                     the admin commands: list, add, remove, modify…

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
`;

const HELP = { help: { type: "boolean", short: "h" } } as const;



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
    log,
  });
  log(`node agent for ${nodeName} listening on ${running.endpoint} (state in ${stateDir})`);
  if (networkApply.apply) log(networkNote(networkApply));
  stopOnSignals(() => running.close(), log);
}





/** `corral node-agent …`: the daemon under an unmistakable name. */
export function nodeAgentCommand(args: string[], log: (line: string) => void): Promise<void> {
  return agent(args, log);
}
