// The master process put together: config store, job queue and executor, the RAPI server.

import type { Server } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { createHttpCore, listen } from "../api/http/core.ts";
import { rapiApi } from "../api/http/server.ts";
import { meteredMount } from "../api/http/metered.ts";
import { LeaderForwarder, type LeaderLocator } from "../api/http/forward.ts";
import { UsersFile } from "../api/http/users.ts";
import { corralNodeRoutes } from "../api/corral/nodes.ts";
import { corralBalanceRoutes } from "../api/corral/balance.ts";
import { corralAutoBalanceRoutes } from "../api/corral/autobalance.ts";
import { AutoBalancer } from "./autobalance.ts";
import { corralCapacityRoutes } from "../api/corral/capacity.ts";
import { ComputationRunner } from "../balance/offloop.ts";
import { corralEventRoutes } from "../api/corral/events.ts";
import { withOpenApiRoute } from "../api/corral/openapi.ts";
import { metricsRoutes } from "../api/corral/metrics.ts";
import { MasterMetrics } from "../metrics/metrics.ts";
import { corralAuditRoutes } from "../api/corral/audit.ts";
import { ApiTokens, corralTokenRoutes } from "../api/corral/tokens.ts";
import type { AutoBalanceRound } from "../model/autobalance.ts";
import type { AuditEvent } from "../api/http/audit.ts";
import { AuditTrail } from "./audit.ts";
import { KnownSecrets, scrubbing, withTestRunCopy, type Log } from "./log.ts";
import { EventBus, type EventBusOptions } from "../events/bus.ts";
import { jobEvents } from "../events/jobs.ts";
import { objectEvents } from "../events/objects.ts";
import { ConsoleProxy } from "../api/ui/console.ts";
import { uiMount } from "../api/ui/mount.ts";
import { SessionStore } from "../api/ui/sessions.ts";
import { loadPvcConfig, pvcMount, pvcRouteTable, startPvcApi, type RunningPvcApi } from "../api/pvc/index.ts";
import { rapiRoutes } from "../api/rapi/resources.ts";
import type { RapiServices } from "../api/rapi/services.ts";
import { nodeReads } from "./nodereads.ts";
import { LockManager } from "../jobs/locks.ts";
import { JobQueue } from "../jobs/queue.ts";
import { initializeCluster } from "../ops/init.ts";
import { logicalUnits } from "../ops/index.ts";
import { warmBulkCache } from "../query/rapi.ts";
import { clusterInfo } from "../query/cluster.ts";
import { openBackend, storeTrouble, type StoreChoice } from "../store/backend.ts";
import type { LeaderInfo } from "../store/etcd/leader.ts";
import { corralStoreRoutes, storeView } from "../api/corral/store.ts";
import { Standby } from "./standby.ts";
import type { InitializableStore } from "../store/store.ts";
import { dataPaths, ensureRapiCert, ensureUsersFile, readPem } from "./datadir.ts";
import { followGuestPowerOffs } from "./guestevents.ts";
import { takeSharedFiles } from "./shared.ts";
import { LiveMonitor } from "./live.ts";
import type { NodeAgentOptions } from "../node/agent/agent.ts";
import { ensureClusterCert, NodeConnections } from "./nodes.ts";
import { backendTerm } from "./term.ts";
import type { RpcCall } from "../rpc/index.ts";
import { CORRAL_VERSION } from "../version.ts";
import { matchName } from "../model/names.ts";
import { fileURLToPath } from "node:url";

/** Where scripts/install.sh builds the web console (node ui/build.ts). */
const UI_DIST = fileURLToPath(new URL("../../ui/dist", import.meta.url));

/** Finished jobs older than this leave the active queue (Ganeti's watcher: six hours). */
export const JOB_ARCHIVE_AGE_SECONDS = 6 * 3600;

export interface MasterOptions {
  dataDir: string;
  port: number;
  bind: string;
  ssl: boolean;
  certFile?: string;
  keyFile?: string;
  usersFile?: string;
  requireAuthentication: boolean;
  maxClients: number;
  clusterName?: string;
  nodeName?: string;
  nodeIp?: string;
  /** Memory budget of the local fake hypervisor, MiB (default: the agent's). */
  localMemoryMiB?: number;
  /** OS definitions search path of the local agent (default: the agent's). */
  osSearchPath?: string[];
  /** The local agent's kvm hypervisor options, or false to leave kvm out (default: the agent's). */
  kvm?: NodeAgentOptions["kvm"];
  /** How often live state is refreshed from the agents, ms (default 10 s). */
  liveRefreshMs?: number;
  /** How often automatic balancing checks whether a round is due, ms (default 60 s). */
  autoBalanceIntervalMs?: number;
  /**
   * How long the master waits for each call to another node's agent, ms (default the
   * per-call deadlines of callTimeoutMs); e.g. shorter ones to see a frozen node fail fast.
   */
  nodeRpcDeadlineMs?: (call: RpcCall, args: unknown) => number;
  /** pvc-api.yaml: when given, the PVC HTTP API v1 listens as it says (PVC_CONFIG_FILE). */
  pvcConfigFile?: string;
  /** Serve the PVC API under /api/v1 on the RAPI listener (its port and TLS) rather than on pvc-api.yaml's address and port. */
  pvcOnRapiListener?: boolean;
  /**
   * PVC managed networks on the master's own node: load the nftables rules, create the
   * bridges and run dnsmasq for real (default off: the agent renders and checks them only).
   */
  pvcApplyNetworks?: boolean;
  /** With pvcApplyNetworks: apply inside this network namespace, not the machine's own. */
  pvcNetworksNetns?: string;
  /** The built web console served under /ui/ (default: the repository's ui/dist). */
  uiDir?: string;
  /** The event stream's bounds (tests make them small). */
  events?: Partial<EventBusOptions>;
  /** Prometheus metrics at /metrics (default on); the bench turns them off for its reference runs. */
  metrics?: boolean;
  /** A file holding the bearer token Prometheus may scrape /metrics with (besides read users). */
  metricsTokenFile?: string;
  /**
   * Diagnostics and the audit trail's lines (the daemon: pino JSON on stderr, log.ts); what
   * reaches it is scrubbed of the secrets the master knows first.
   */
  log: Log;
  /** The audit trail (default on); the bench turns it off for its reference runs only. */
  auditTrail?: boolean;
  /** What the operator must see once (the generated password). */
  announce: (line: string) => void;
  /**
   * Called once this master has lost leadership (a write failed, or another master took the
   * database's fence), after its jobs were stopped and writes refused. Default: exit 70, as
   * SQLite mode has no standby to take over and a restart recovers from the disk.
   */
  leadershipLost?: (reason: string) => void;
  /** Several masters (etcd mode): who leads; while this one does not, it forwards writes and job waits there. */
  leader?: LeaderLocator;
  // --- Standby masters (etcd, issue 17)
  /** Where the config and job queue live (default SQLite in the data directory). */
  store?: StoreChoice;
  /** The RAPI URL other masters and clients are told for this master while it leads (default https://NODE-IP:PORT, else the bind address, else the host name). */
  advertiseUrl?: string;
}

export interface Master {
  readonly port: number;
  readonly store: InitializableStore;
  readonly queue: JobQueue;
  readonly locks: LockManager;
  readonly connections: NodeConnections;
  readonly live: LiveMonitor;
  /** What GET /corral/1/events streams. */
  readonly events: EventBus;
  /** The PVC API's port, when it listens. */
  readonly pvcPort?: number;
  /** Whether this master leads, and who does (itself in SQLite mode). */
  readonly leaders: LeaderLocator;
  close(): Promise<void>;
}

export async function startMaster(o: MasterOptions): Promise<Master> {
  const paths = dataPaths(o.dataDir);
  // Read first, so that a bad pvc-api.yaml stops the start before anything else happens.
  let pvcConfig = o.pvcConfigFile === undefined ? undefined : loadPvcConfig(o.pvcConfigFile);
  const metricsToken = o.metricsTokenFile === undefined ? undefined : readMetricsToken(o.metricsTokenFile);
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  // Every line logged from here on is scrubbed of the passwords and secret parameters seen.
  const secrets = new KnownSecrets();
  o = { ...o, log: scrubbing(withTestRunCopy(o.log), secrets) };
  const pvcSecrets = (c: typeof pvcConfig) => [...(c?.auth.tokens.map((t) => t.token) ?? []), c?.auth.secretKey ?? ""].forEach((v) => secrets.add(v));
  pvcSecrets(pvcConfig);
  // Config changes, job states and tokens share one group-committed log, fenced by the
  // leadership lease; a batch that fails revokes leadership (below).
  const nodeName = o.nodeName ?? hostname();
  const backend = await openBackend(o.store ?? { kind: "sqlite" }, { database: paths.database, auditDatabase: paths.auditDatabase, cluster: o.clusterName ?? nodeName, master: nodeName, onStoreTrouble: (err) => o.log(`etcd: ${err.message}`, { level: "warn" }) });
  const { config: store, leadership, log } = backend;
  // A failed batch revokes leadership (the backend's own listener); trouble that does not (etcd
  // full) is logged with its remedy.
  log.onFailure((err) => {
    const trouble = storeTrouble(err);
    if (trouble !== undefined) o.log(trouble, { level: "error" });
  });
  // etcd: the certificates, users and pvc-api.yaml every master shares; the data directory keeps copies (issue 17).
  const sharedCopies = backend.replica ? await takeSharedFiles(backend.replica.shared, { ...o, nodeName }) : undefined;
  if (sharedCopies?.pvcConfig) pvcSecrets((pvcConfig = sharedCopies.pvcConfig));
  if (!store.isInitialized()) {
    await initializeCluster(store, {
      clusterName: o.clusterName ?? nodeName,
      nodeName,
      nodeIp: o.nodeIp ?? "127.0.0.1",
      enabledHypervisors: ["fake"],
      enabledDiskTemplates: ["diskless", "file"],
      fileStorageDir: paths.fileStorage,
      sharedFileStorageDir: paths.sharedFileStorage,
      agentEndpoint: "local",
    });
    o.log(`initialized cluster ${store.snapshot().cluster.name} in ${o.dataDir}`);
  }

  let tls: { cert: string; key: string } | undefined;
  if (o.ssl) {
    const certFile = o.certFile ?? paths.rapiPem;
    const keyFile = o.keyFile ?? certFile;
    if (!o.certFile && (await ensureRapiCert(paths.rapiPem, nodeName))) o.log(`generated a self-signed RAPI certificate in ${paths.rapiPem}`);
    tls = { cert: await readPem(certFile), key: await readPem(keyFile) };
  }

  const usersPath = sharedCopies?.usersFile ?? o.usersFile ?? paths.usersFile;
  if (!o.usersFile && !sharedCopies) {
    const password = await ensureUsersFile(usersPath);
    if (password) {
      o.announce(`Created RAPI user 'admin' (write access) in ${usersPath}`);
      o.announce(`Its password, shown only this once: ${password}`);
    }
  }
  const users = new UsersFile(usersPath);
  users.watch();
  secrets.addSource(() => users.secretValues());
  const sessions = new SessionStore(users, {}, Date.now, backend.sessions, (line) => o.log(line, { level: "warn" }));

  const clusterCert = await ensureClusterCert(o.dataDir, store.snapshot().cluster.name);
  const connections = new NodeConnections(clusterCert, o.nodeRpcDeadlineMs, {
    stateDir: paths.nodeState,
    nodeName,
    fileStorageDir: store.snapshot().cluster.file_storage_dir,
    sharedFileStorageDir: store.snapshot().cluster.shared_file_storage_dir,
    memoryTotal: o.localMemoryMiB,
    osSearchPath: o.osSearchPath,
    kvm: o.kvm,
    networkApply: o.pvcApplyNetworks ? { apply: true, netns: o.pvcNetworksNetns } : undefined,
    log: (line) => o.log(line),
    // Every call to an agent carries this master's term; agents refuse a fenced-out master's orders (issue 17).
  }, backendTerm(backend));
  if (o.pvcApplyNetworks) o.log(`PVC managed networks are applied on this node${o.pvcNetworksNetns ? ` in network namespace ${o.pvcNetworksNetns}` : ""}`);
  const live = new LiveMonitor(store, connections);
  await live.refresh();
  live.start(o.liveRefreshMs ?? 10_000);
  live.watch();

  const locks = new LockManager();
  const node = (n: Parameters<NodeConnections["client"]>[0]) => connections.client(n);
  // The queue is made next; a job's submitter is asked only once requests arrive.
  const tokens = new ApiTokens(backend.tokens, users, store, (id) => queue.get(id)?.token);
  const queue = new JobQueue({ store, jobs: backend.jobs, logicalUnits, locks, services: { node, live }, authorities: tokens.authorities });
  const events = new EventBus({ firstId: Date.now() * 100, ...o.events });
  queue.follow(jobEvents(events));
  const metrics = o.metrics === false ? undefined : new MasterMetrics({ store, live, jobs: () => queue.all() });
  if (metrics) {
    queue.follow(metrics.jobs);
    log.onCommitted = (writes, seconds) => metrics.committed(writes, seconds);
  }
  if (metricsToken !== undefined) secrets.add(metricsToken);
  queue.follow(secrets.jobFollower());
  const audit = o.auditTrail === false ? undefined : new AuditTrail(backend.audit.db, backend.audit.log, o.log);
  if (audit) queue.follow(audit.jobFollower());
  const auditEvent = (line: string, event: AuditEvent) => (audit ? audit.event(event, line) : o.log(line));
  store.onCommit(objectEvents(events));
  // Establishing leadership loads the queue; losing it stops the jobs, then the master (SQLite
  // mode: no other master can take over, and a restart is the tested way back from the disk:
  // memory may be ahead of it, and running jobs are failed on recovery).
  leadership.onEstablish(() => queue.recover());
  const replica = backend.replica;
  // etcd: a master that lost leadership stands by and campaigns again (another master leads).
  const standby = replica ? new Standby(replica, leadership, o.log) : undefined;
  // A write refused for want of space: the alarm shows at once (/2/info), not at the next check.
  if (standby) log.onFailure((err) => void (storeTrouble(err) !== undefined && standby.health.status().catch(() => undefined)));
  leadership.onRevoke((reason) => {
    queue.revoke(reason);
    o.log(`${reason}; this master no longer leads: writes are refused and running jobs end in error${standby ? "; it stands by" : ""}`, { level: "error" });
    if (standby) standby.campaign.run();
    else (o.leadershipLost ?? exitOnLostLeadership)(reason);
  });
  // A master that may stand by listens before it leads, serving reads from its copy.
  if (replica) queue.showStored();
  else await leadership.establish();
  audit?.settle((id) => queue.get(id));
  followGuestPowerOffs(live, store, queue, o.log, () => leadership.ready);
  const archiver = setInterval(() => queue.archiveOld(JOB_ARCHIVE_AGE_SECONDS), 600_000).unref();

  const services: RapiServices = { store, queue, live, lockInfo: () => locks.info(), nodeReads: nodeReads(node), clusterInfo, storeProblem: () => standby?.health.problem() };
  // Balancing plans, capacity and verify: on a worker thread, started on first use.
  const computations = new ComputationRunner();
  const autoBalancer = new AutoBalancer({
    services, runner: computations, log: o.log, intervalMs: o.autoBalanceIntervalMs, leads: () => leadership.ready,
    lastRound: backend.meta<AutoBalanceRound>("autobalance_last_round"),
  });
  // --- Standby masters (etcd, issue 17): who leads (this master's own leader key names it once
  // it listens); a master that does not lead forwards writes and job waits there.
  let advertised: LeaderInfo | undefined;
  const leaders: LeaderLocator = {
    leads: () => leadership.epoch !== undefined,
    leader: () => (replica ? replica.leader() : advertised),
  };
  const locator = o.leader ?? (replica ? leaders : undefined);
  const forward = locator ? new LeaderForwarder(locator, o.log) : undefined;
  const pvcServices = { store, queue, live, clients: node, log: o.log, audit, forward };
  // The PVC API on the same listener, when so configured: its paths (/api/v1) are its own.
  const sharedPvc = pvcConfig && o.pvcOnRapiListener ? [pvcMount(pvcServices, pvcConfig)] : [];
  const server: Server = createHttpCore({
    mounts: [
      ...sharedPvc.map((pvcApi) => meteredMount(pvcApi, "/api/v1", metrics)),
      meteredMount(uiMount({ distDir: o.uiDir ?? UI_DIST, users, sessions, throttle: backend.loginFailures, audit: auditEvent }), "/ui/", metrics),
      rapiApi({
        routes: withOpenApiRoute([...rapiRoutes(services), ...corralNodeRoutes(services), ...corralBalanceRoutes(services, computations), ...corralAutoBalanceRoutes(() => autoBalancer.status()), ...corralCapacityRoutes(services, computations), ...corralEventRoutes(events), ...(audit ? corralAuditRoutes(audit) : []), ...corralTokenRoutes(tokens), ...(metrics ? metricsRoutes(metrics, metricsToken) : []), ...corralStoreRoutes(() => storeView(backend, () => ({ name: nodeName, url: advertised?.url ?? "" }), standby && (() => standby.health.status())))], pvcRouteTable(pvcServices), CORRAL_VERSION),
        users,
        requireAuthentication: o.requireAuthentication,
        sessions,
        audit,
        metrics,
        tokens,
        forward,
      }),
    ],
    tls,
    maxClients: o.maxClients,
    serverHeader: `Corral/${CORRAL_VERSION}`,
    log: o.log,
  });
  // The web console's screens and serial consoles, through the instance's primary node's agent.
  const consoles = new ConsoleProxy({
    sessions,
    audit: auditEvent,
    open: async (name, kind) => {
      const snap = store.snapshot();
      const instance = matchName(snap.instances.values(), name);
      if (!instance) throw new Error(`Instance ${name} is unknown`);
      const node = snap.nodes.get(instance.primary_node);
      if (!node) throw new Error(`Instance ${name} has no primary node`);
      return await connections.openConsole(node, instance.name, kind);
    },
  });
  server.on("upgrade", (req, socket, head) => {
    if (!consoles.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const port = await listen(server, o.port, o.bind);
  // --- Standby masters (etcd, issue 17): this master as its leader key names it; the standby
  // copy follows the leader's commits; the campaign runs in the background.
  const host = o.nodeIp ?? (["0.0.0.0", "::"].includes(o.bind) ? hostname() : o.bind);
  advertised = { name: nodeName, url: o.advertiseUrl ?? `${o.ssl ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`, ...(tls ? { certPem: tls.cert } : {}) };
  await standby?.start(advertised, queue);
  void warmBulkCache(store.snapshot(), live);
  autoBalancer.start();
  o.log(`RAPI listening on ${o.ssl ? "https" : "http"}://${o.bind}:${port}`);
  if (sharedPvc.length > 0) o.log(`PVC API served under /api/v1 on the RAPI listener (pvc-api.yaml's listen address, port and ssl unused)`);

  let pvc: RunningPvcApi | undefined;
  const master: Master = {
    port,
    store,
    queue,
    locks,
    connections,
    live,
    events,
    get pvcPort() {
      return sharedPvc.length > 0 ? port : pvc?.port;
    },
    leaders,
    async close() {
      standby?.close();
      clearInterval(archiver);
      await autoBalancer.close();
      audit?.close();
      await pvc?.close();
      live.stop();
      queue.stop();
      // Ends the event streams, so that the server can close.
      events.close();
      consoles.close();
      sessions.clear();
      forward?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await queue.idle();
      await computations.close();
      connections.close();
      await connections.localAgent.close();
      users.close();
      await backend.close();
    },
  };

  // --- PVC HTTP API v1 (src/api/pvc): its own listener over the same store, queue and agents.
  if (pvcConfig && sharedPvc.length === 0) {
    try {
      pvc = await startPvcApi(pvcServices, pvcConfig, `Corral/${CORRAL_VERSION}`, o.maxClients);
    } catch (err) {
      await master.close();
      throw err;
    }
  }
  return master;
}

/** SQLite mode's answer to lost leadership: stop, for the service manager to restart it (it recovers from the disk). */
function exitOnLostLeadership(): void {
  process.exit(70);
}

/** The metrics token: the file's first line; an empty one is refused rather than accepted as "". */
function readMetricsToken(file: string): string {
  const token = readFileSync(file, "utf8").split("\n")[0].trim();
  if (token.length < 16) throw new Error(`${file}: the metrics token must be at least 16 characters long`);
  return token;
}
