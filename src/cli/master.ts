// `corral master`: the master daemon (config, job queue, RAPI, and PVC's API when configured).

import { parseArgs } from "node:util";
import { defaultDataDir } from "../master/datadir.ts";
import { stderrLog } from "../master/log.ts";
import { startMaster } from "../master/master.ts";
import { intOption, stopOnSignals } from "./args.ts";
import { NETWORK_OPTIONS, NETWORK_USAGE, networkFlags } from "./node.ts";
import { STORE_OPTIONS, STORE_USAGE, storeChoice } from "./store.ts";

const USAGE = `Usage: corral master [options]

Options (ganeti-rapi's own, plus Corral's):
  -p, --port PORT              RAPI port (default 5080)
  -b, --bind ADDRESS           address to listen on (default 0.0.0.0)
      --no-ssl                 plain HTTP instead of HTTPS
  -C, --ssl-cert FILE          certificate (default DATA_DIR/rapi.pem, generated)
  -K, --ssl-key FILE           key (default: the certificate file)
      --require-authentication every request needs valid credentials
      --max-clients N          requests handled at once (default 20)
      --data-dir DIR           data directory (default ${defaultDataDir()})
      --users-file FILE        RAPI users file (default DATA_DIR/rapi/users)
      --cluster-name NAME      name of a new cluster (default: the host name); with
                               --store etcd://, also its key prefix in etcd
      --node-name NAME         name of this node in a new cluster (default: the host name)
      --node-ip ADDRESS        this node's address in a new cluster (default 127.0.0.1)
      --pvc-config FILE        serve the PVC HTTP API v1 as pvc-api.yaml FILE says
                               (default: $PVC_CONFIG_FILE; none: no PVC API)
      --pvc-on-rapi-port       serve it under /api/v1 on the RAPI listener instead of
                               the address, port and ssl pvc-api.yaml names
      --metrics-token-file FILE
                               a bearer token (the file's first line, 16+ characters)
                               that may scrape /metrics, besides read and write users
      --no-metrics             serve no /metrics and collect nothing (benchmarks'
                               reference runs)
      --no-audit-trail         keep no audit trail (for benchmarks' reference runs only)
${STORE_USAGE}
${NETWORK_USAGE}
                               (for the master's own node; give other nodes' agents the
                               same flags)
`;

function fail(message: string): never {
  process.stderr.write(`corral: ${message}\n`);
  process.exit(2);
}

export async function masterCommand(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        port: { type: "string", short: "p" },
        bind: { type: "string", short: "b" },
        "no-ssl": { type: "boolean" },
        "ssl-cert": { type: "string", short: "C" },
        "ssl-key": { type: "string", short: "K" },
        "require-authentication": { type: "boolean" },
        "max-clients": { type: "string" },
        "data-dir": { type: "string" },
        "users-file": { type: "string" },
        "cluster-name": { type: "string" },
        "node-name": { type: "string" },
        "node-ip": { type: "string" },
        "pvc-config": { type: "string" },
        "pvc-on-rapi-port": { type: "boolean" },
        "metrics-token-file": { type: "string" },
        "no-metrics": { type: "boolean" },
        "no-audit-trail": { type: "boolean" },
        ...NETWORK_OPTIONS,
        ...STORE_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  const networks = networkFlags(v);
  let store;
  try {
    store = storeChoice(v);
  } catch (err) {
    fail((err as Error).message);
  }
  // The daemon's log: JSON lines on stderr.
  const log = stderrLog();
  const running = await startMaster({
    dataDir: v["data-dir"] ?? defaultDataDir(),
    port: intOption("port", v.port, 5080),
    bind: v.bind ?? "0.0.0.0",
    ssl: !v["no-ssl"],
    certFile: v["ssl-cert"],
    keyFile: v["ssl-key"],
    usersFile: v["users-file"],
    requireAuthentication: v["require-authentication"] ?? false,
    maxClients: intOption("max-clients", v["max-clients"], 20),
    clusterName: v["cluster-name"],
    nodeName: v["node-name"],
    nodeIp: v["node-ip"],
    pvcConfigFile: v["pvc-config"] ?? (process.env.PVC_CONFIG_FILE || undefined),
    pvcOnRapiListener: v["pvc-on-rapi-port"] ?? false,
    metrics: !v["no-metrics"],
    metricsTokenFile: v["metrics-token-file"],
    pvcApplyNetworks: networks.apply,
    pvcNetworksNetns: networks.netns,
    auditTrail: !v["no-audit-trail"],
    store,
    advertiseUrl: v["advertise-url"],
    log,
    announce: (line) => process.stdout.write(`${line}\n`),
  });
  stopOnSignals(() => running.close(), log);
}
