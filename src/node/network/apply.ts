// Turns the managed networks into running configuration on this node: writes the nftables
// ruleset and (on the gateway node) one dnsmasq configuration per network, checks them with
// the tools themselves (`nft -c -f`, `dnsmasq --test`), and when applying is enabled loads
// the ruleset, creates the bridges with their gateway addresses and (re)starts dnsmasq.
// Applying can be confined to a network namespace; by default nothing is applied, so an
// agent on a workstation never changes the machine's own network.

import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DhcpLease, NetConfigSpec, NetConfigureArgs, NetConfigureResult, ToolReport } from "../../model/pvc-node.ts";
import { failReason, runScript, SCRIPT_PATH } from "../util/exec.ts";
import { aclRuleProblem } from "../../model/pvc.ts";
import { argError } from "../util/names.ts";
import { bridgeName, renderDnsmasq, renderNftables, servesDhcp } from "./render.ts";

export interface NetworkConfigOptions {
  /** Where the rendered files go (`<agent state dir>/network`). */
  dir: string;
  /** Load rules, create bridges, run dnsmasq. Off by default: render and validate only. */
  apply?: boolean;
  /** Apply inside this network namespace (`ip netns exec NAME ...`). */
  netns?: string;
  /** PATH the tools are looked up in. */
  path?: string;
}

const TOOL_TIMEOUT_MS = 30_000;

function findTool(name: string, path: string): string | undefined {
  for (const dir of path.split(":")) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

export class NetworkConfigurator {
  private readonly o: NetworkConfigOptions;
  private readonly path: string;

  constructor(o: NetworkConfigOptions) {
    this.o = o;
    this.path = o.path ?? SCRIPT_PATH;
  }

  /** Runs a tool (in the namespace when `inNetns`); [ok, what it printed]. */
  private async tool(name: string, args: string[], inNetns: boolean): Promise<[boolean, string]> {
    const bin = findTool(name, this.path);
    if (!bin) return [false, `${name} is not installed`];
    const [path, argv] = inNetns && this.o.netns ? [findTool("ip", this.path) ?? "ip", ["netns", "exec", this.o.netns, bin, ...args]] : [bin, args];
    try {
      const r = await runScript({ path, args: argv, env: { PATH: this.path, LC_ALL: "C" }, cwd: "/", timeoutMs: TOOL_TIMEOUT_MS });
      const said = r.output.trim();
      return r.code === 0 && !r.timedOut ? [true, said] : [false, `${name} ${failReason(r, TOOL_TIMEOUT_MS)}${said ? `: ${said}` : ""}`];
    } catch (err) {
      return [false, `cannot run ${name}: ${err instanceof Error ? err.message : String(err)}`];
    }
  }

  async configure(args: NetConfigureArgs): Promise<NetConfigureResult> {
    const networks = checkSpecs(args.networks);
    await mkdir(this.o.dir, { recursive: true });
    const nftables = await this.nftables(networks, args.check_only === true);
    const dnsmasq = args.gateway
      ? await this.dnsmasq(networks, args.check_only === true)
      : { status: "validated" as const, detail: "not the gateway node: no dnsmasq here", files: [] };
    return { nftables, dnsmasq };
  }

  private async nftables(networks: NetConfigSpec[], checkOnly: boolean): Promise<ToolReport> {
    const file = join(this.o.dir, checkOnly ? "nftables.check.conf" : "nftables.conf");
    await writeFile(file, renderNftables(networks), { mode: 0o600 });
    if (!findTool("nft", this.path)) return { status: "written", detail: "nft is not installed: ruleset rendered, not checked", files: [file] };
    const [ok, said] = await this.tool("nft", ["-c", "-f", file], false);
    if (!ok) return { status: "failed", detail: said, files: [file] };
    if (checkOnly || !this.o.apply) return { status: "validated", detail: "nft -c accepted the ruleset", files: [file] };
    const [applied, out] = await this.tool("nft", ["-f", file], true);
    return applied
      ? { status: "applied", detail: `ruleset loaded${this.o.netns ? ` in netns ${this.o.netns}` : ""}`, files: [file] }
      : { status: "failed", detail: out, files: [file] };
  }

  private async dnsmasq(networks: NetConfigSpec[], checkOnly: boolean): Promise<ToolReport> {
    const root = join(this.o.dir, "dnsmasq");
    const served = networks.filter(servesDhcp);
    const files: string[] = [];
    const problems: string[] = [];
    const have = findTool("dnsmasq", this.path) !== undefined;
    for (const n of served) {
      const dir = join(root, String(n.vni));
      await mkdir(dir, { recursive: true });
      const { conf, hosts } = renderDnsmasq(n, dir);
      const confFile = join(dir, checkOnly ? "dnsmasq.check.conf" : "dnsmasq.conf");
      await writeFile(confFile, conf, { mode: 0o644 });
      if (!checkOnly) await writeFile(join(dir, "hosts"), hosts, { mode: 0o644 });
      files.push(confFile);
      if (!have) continue;
      const [ok, said] = await this.tool("dnsmasq", ["--test", `--conf-file=${confFile}`], false);
      if (!ok) problems.push(`network ${n.name}: ${said}`);
    }
    if (checkOnly) {
      return problems.length > 0 ? { status: "failed", detail: problems.join("; "), files } : { status: have ? "validated" : "written", detail: have ? "dnsmasq --test accepted the configuration" : "dnsmasq is not installed", files };
    }
    // Networks that are gone: stop their dnsmasq, drop their files.
    const wanted = new Set(served.map((n) => String(n.vni)));
    for (const vni of existsSync(root) ? await readdir(root) : []) {
      if (wanted.has(vni)) continue;
      await this.stopDnsmasq(join(root, vni));
      await rm(join(root, vni), { recursive: true, force: true });
    }
    if (problems.length > 0) return { status: "failed", detail: problems.join("; "), files };
    if (!have) return { status: "written", detail: "dnsmasq is not installed: configuration rendered, not run", files };
    if (!this.o.apply) return { status: "validated", detail: "dnsmasq --test accepted the configuration (applying is off on this node)", files };
    for (const n of served) {
      const dir = join(root, String(n.vni));
      await this.ensureBridge(n);
      await this.stopDnsmasq(dir);
      const [ok, said] = await this.tool("dnsmasq", [`--conf-file=${join(dir, "dnsmasq.conf")}`], true);
      if (!ok) problems.push(`network ${n.name}: ${said}`);
    }
    return problems.length > 0
      ? { status: "failed", detail: problems.join("; "), files }
      : { status: "applied", detail: `dnsmasq running for ${served.length} network(s)${this.o.netns ? ` in netns ${this.o.netns}` : ""}`, files };
  }

  /** The network's bridge with its gateway addresses (PVC's primary coordinator sets these up). */
  private async ensureBridge(n: NetConfigSpec): Promise<void> {
    const br = bridgeName(n.vni);
    const [exists] = await this.tool("ip", ["link", "show", br], true);
    if (!exists) await this.tool("ip", ["link", "add", br, "type", "bridge"], true);
    for (const [gw, net] of [[n.ip4_gateway, n.ip4_network], [n.ip6_gateway, n.ip6_network]] as const) {
      if (gw && net) await this.tool("ip", ["addr", "replace", `${gw}/${net.split("/")[1]}`, "dev", br], true);
    }
    await this.tool("ip", ["link", "set", br, "up"], true);
  }

  private async stopDnsmasq(dir: string): Promise<void> {
    let pid: number;
    try {
      pid = Number((await readFile(join(dir, "dnsmasq.pid"), "utf8")).trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1) return;
    // Only a dnsmasq started with this directory's configuration is ours to stop.
    let cmdline = "";
    try {
      cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replace(/\0/g, " ");
    } catch {
      return;
    }
    if (!cmdline.includes("dnsmasq") || !cmdline.includes(join(dir, "dnsmasq.conf"))) return;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return;
    }
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops every dnsmasq this configurator started (agent shutdown, tests). */
  async stopAll(): Promise<void> {
    const root = join(this.o.dir, "dnsmasq");
    for (const vni of existsSync(root) ? await readdir(root) : []) await this.stopDnsmasq(join(root, vni));
  }

  async leases(vni: number): Promise<DhcpLease[]> {
    if (!Number.isInteger(vni) || vni < 0) throw argError(`Invalid VNI ${JSON.stringify(vni)}`);
    let text: string;
    try {
      text = await readFile(join(this.o.dir, "dnsmasq", String(vni), "leases"), "utf8");
    } catch {
      return [];
    }
    return parseLeaseFile(text);
  }
}

/** dnsmasq's lease file: "expiry mac ip hostname client-id" per line ("*" for none). */
export function parseLeaseFile(text: string): DhcpLease[] {
  const out: DhcpLease[] = [];
  for (const line of text.split("\n")) {
    const [expiry, mac, ip, hostname, clientId] = line.trim().split(/\s+/);
    if (!expiry || !mac || !ip || mac.includes("*")) continue;
    if (ip.includes(":")) continue; // DHCPv6 lines (duid) are not PVC leases
    out.push({ mac: mac.toLowerCase(), ip, hostname: hostname && hostname !== "*" ? hostname : "", expiry: Number(expiry) || 0, client_id: clientId && clientId !== "*" ? clientId : "" });
  }
  return out;
}

function checkSpecs(value: unknown): NetConfigSpec[] {
  if (!Array.isArray(value)) throw argError("networks must be a list");
  for (const n of value as NetConfigSpec[]) {
    if (typeof n !== "object" || n === null || !Number.isInteger(n.vni) || n.vni < 0 || n.vni > 16777215) throw argError(`Invalid network ${JSON.stringify(n)}`);
    if (typeof n.domain !== "string" || !/^[A-Za-z0-9.-]*$/.test(n.domain)) throw argError(`Invalid domain ${JSON.stringify(n.domain)}`);
    for (const a of [...(n.acls?.in ?? []), ...(n.acls?.out ?? [])]) {
      const problem = aclRuleProblem(String(a.rule));
      if (problem) throw argError(`ACL '${a.description}' of network ${n.name}: ${problem}`);
    }
    for (const r of n.reservations ?? []) {
      if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(r.mac) || !/^[0-9.]+$/.test(r.ip) || !/^[A-Za-z0-9.-]*$/.test(r.hostname)) {
        throw argError(`Invalid reservation ${JSON.stringify(r)}`);
      }
    }
  }
  return value as NetConfigSpec[];
}
