// `corral cluster info|modify|tags` (balance, capacity, verify-capacity, autobalance: balance.ts), `corral os list`, `corral group …`, `corral network …`,
// `corral filter …` (gnt-cluster, gnt-os, gnt-group, gnt-network, gnt-filter over RAPI).

import { Command } from "commander";
import { addBalanceCommands } from "./balance.ts";
import { clientOf, confirm, enc, listFields, listOptions, listResource, printInfo, runJob, writeOptions } from "./common.ts";
import { renderRows } from "./output.ts";
import { hypervisorParams, parseKeyValues, UsageError } from "./params.ts";
import { parseQueryFilter } from "./qfilter.ts";
import { tagCommands } from "./tags.ts";

const csv = (s: string) => s.split(",").filter(Boolean);

export function clusterCommand(): Command {
  const cmd = new Command("cluster").description("the cluster: its information and parameters");
  cmd.command("info").option("--format <format>", "text or json").description("the cluster's configuration (gnt-cluster info)")
    .action(async (_o, c: Command) => printInfo(c, await (await clientOf(c)).request("GET", "/2/info")));
  writeOptions(cmd.command("modify").description("change cluster parameters (gnt-cluster modify)"))
    .option("-B, --backend-parameters <k=v,...>", "default backend parameters")
    .option("-H, --hypervisor-parameters <hv:k=v,...>", "a hypervisor's default parameters")
    .option("-N, --nic-parameters <k=v,...>", "default NIC parameters")
    .option("--enabled-hypervisors <list>", "hypervisors instances may use, the default first")
    .option("--enabled-disk-templates <list>", "disk templates instances may use")
    .option("--candidate-pool-size <n>", "how many master candidates", (s) => Number(s))
    .action((o: { backendParameters?: string; hypervisorParameters?: string; nicParameters?: string; enabledHypervisors?: string; enabledDiskTemplates?: string; candidatePoolSize?: number }, c: Command) => {
      const body: Record<string, unknown> = {};
      if (o.backendParameters) body.beparams = parseKeyValues(o.backendParameters, "-B");
      if (o.hypervisorParameters) {
        const h = hypervisorParams(o.hypervisorParameters);
        if (!h.hypervisor) throw new UsageError("-H needs the hypervisor: -H kvm:key=value,…");
        body.hvparams = { [h.hypervisor]: h.params };
      }
      if (o.nicParameters) body.nicparams = parseKeyValues(o.nicParameters, "-N");
      if (o.enabledHypervisors) body.enabled_hypervisors = csv(o.enabledHypervisors);
      if (o.enabledDiskTemplates) body.enabled_disk_templates = csv(o.enabledDiskTemplates);
      if (o.candidatePoolSize !== undefined) body.candidate_pool_size = o.candidatePoolSize;
      if (Object.keys(body).length === 0) throw new UsageError("nothing to change: give -B, -H, -N, --enabled-hypervisors, --enabled-disk-templates or --candidate-pool-size");
      return runJob(c, "PUT", "/2/modify", body);
    });
  cmd.addCommand(tagCommands("cluster", () => "/2/tags", false));
  addBalanceCommands(cmd);
  return cmd;
}

export function osCommand(): Command {
  const cmd = new Command("os").description("OS definitions");
  cmd.command("list").description("the OS definitions (with variants) every node has (gnt-os list)")
    .option("--format <format>", "text or json")
    .action(async (_o, c: Command) => {
      const names = (await (await clientOf(c)).request("GET", "/2/os")) as string[];
      if (c.opts<{ format?: string }>().format === "json") return void process.stdout.write(JSON.stringify(names, null, 2) + "\n");
      process.stdout.write(renderRows([{ name: "name", title: "Name", kind: "text", doc: "" }], names.map((n) => [[0, n]]), { headers: true, units: "h", json: false }));
    });
  return cmd;
}

/** list, list-fields and info of a resource named by name (groups, networks). */
function namedResource(cmd: Command, resource: string, plural: string, defaults: string[]): void {
  listOptions(cmd.command("list").argument("[names...]").description(`list ${plural}`))
    .action((names: string[], _o, c: Command) => listResource(c, resource, defaults, names));
  listOptions(cmd.command("list-fields").argument("[fields...]").description(`the fields ${resource} list can show`))
    .action((names: string[], _o, c: Command) => listFields(c, resource, names));
  cmd.command("info").argument("<name>").option("--format <format>", "text or json").description(`one ${resource}'s configuration`)
    .action(async (name: string, _o, c: Command) => printInfo(c, await (await clientOf(c)).request("GET", `/2/${plural}/${enc(name)}`)));
}

export function groupCommand(): Command {
  const cmd = new Command("group").description("node groups (gnt-group)");
  namedResource(cmd, "group", "groups", ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]);
  writeOptions(cmd.command("add").argument("<name>").description("create a node group"), true)
    .option("--alloc-policy <policy>", "preferred, last_resort or unallocable")
    .action((name: string, o: { allocPolicy?: string }, c: Command) =>
      runJob(c, "POST", `/2/groups`, { group_name: name, ...(o.allocPolicy ? { alloc_policy: o.allocPolicy } : {}) }));
  writeOptions(cmd.command("remove").argument("<name>").description("remove an empty node group"), true)
    .action((name: string, _o, c: Command) => runJob(c, "DELETE", `/2/groups/${enc(name)}`));
  writeOptions(cmd.command("rename").argument("<name>").argument("<new-name>").description("rename a node group"), true)
    .action((name: string, newName: string, _o, c: Command) =>
      runJob(c, "PUT", `/2/groups/${enc(name)}/rename`, { new_name: newName }));
  writeOptions(cmd.command("assign-nodes").argument("<name>").argument("<nodes...>").description("move nodes into a group"), true)
    .option("--force", "even if instances then span groups")
    .action((name: string, nodes: string[], o: { force?: boolean }, c: Command) =>
      runJob(c, "PUT", `/2/groups/${enc(name)}/assign-nodes`, { nodes, force: o.force === true }));
  cmd.addCommand(tagCommands("group", (n) => `/2/groups/${enc(n)}/tags`));
  return cmd;
}

export function networkCommand(): Command {
  const cmd = new Command("network").description("IP networks (gnt-network)");
  namedResource(cmd, "network", "networks", ["name", "network", "gateway", "mac_prefix", "group_list", "tags"]);
  writeOptions(cmd.command("add").argument("<name>").description("define a network"), true)
    .requiredOption("--network <cidr>", "IPv4 network, e.g. 192.0.2.0/24")
    .option("--gateway <ip>", "IPv4 gateway")
    .option("--network6 <cidr>", "IPv6 network")
    .option("--gateway6 <ip>", "IPv6 gateway")
    .option("--mac-prefix <prefix>", "MAC prefix of its NICs, aa:bb:cc")
    .option("--add-reserved-ips <list>", "addresses not to hand out")
    .action((name: string, o: { network: string; gateway?: string; network6?: string; gateway6?: string; macPrefix?: string; addReservedIps?: string }, c: Command) =>
      runJob(c, "POST", `/2/networks`, {
        network_name: name, network: o.network,
        ...(o.gateway ? { gateway: o.gateway } : {}), ...(o.network6 ? { network6: o.network6 } : {}), ...(o.gateway6 ? { gateway6: o.gateway6 } : {}),
        ...(o.macPrefix ? { mac_prefix: o.macPrefix } : {}), ...(o.addReservedIps ? { add_reserved_ips: csv(o.addReservedIps) } : {}),
      }));
  writeOptions(cmd.command("remove").argument("<name>").description("remove a network no instance uses"), true)
    .action((name: string, _o, c: Command) => runJob(c, "DELETE", `/2/networks/${enc(name)}`));
  writeOptions(cmd.command("connect").argument("<name>").argument("<group>").argument("<mode>", "bridged, routed or openvswitch").argument("<link>", "bridge or routing table")
    .description("make a network available to a node group"), true)
    .action((name: string, group: string, mode: string, link: string, _o, c: Command) =>
      runJob(c, "PUT", `/2/networks/${enc(name)}/connect`, { group_name: group, network_mode: mode, network_link: link }));
  writeOptions(cmd.command("disconnect").argument("<name>").argument("<group>").description("take a network from a node group"), true)
    .action((name: string, group: string, _o, c: Command) =>
      runJob(c, "PUT", `/2/networks/${enc(name)}/disconnect`, { group_name: group }));
  cmd.addCommand(tagCommands("network", (n) => `/2/networks/${enc(n)}/tags`));
  return cmd;
}

export function filterCommand(): Command {
  const cmd = new Command("filter").description("job filter rules (gnt-filter)");
  listOptions(cmd.command("list").argument("[uuids...]").description("list the filter rules"))
    .action((uuids: string[], _o, c: Command) => listResource(c, "filter", ["uuid", "priority", "action", "predicates"], uuids, "uuid"));
  listOptions(cmd.command("list-fields").argument("[fields...]").description("the fields filter list can show"))
    .action((names: string[], _o, c: Command) => listFields(c, "filter", names));
  cmd.command("add").description("add a rule: its predicates as JSON, or --opcode/--reason shorthands")
    .option("--priority <n>", "lower runs first (default 0)", (s) => Number(s), 0)
    .requiredOption("--action <action>", "ACCEPT, PAUSE, REJECT, CONTINUE or RATE_LIMIT:N")
    .option("--predicates <json>", "Ganeti's predicate list, e.g. '[[\"opcode\", [\"=\", \"OP_ID\", \"OP_TAGS_SET\"]]]'")
    .option("--opcode <filter>", "a predicate on the opcode, in the query language: 'OP_ID == \"OP_INSTANCE_STARTUP\"'")
    .action(async (o: { priority: number; action: string; predicates?: string; opcode?: string }, c: Command) => {
      const predicates: unknown[] = o.predicates ? (JSON.parse(o.predicates) as unknown[]) : [];
      if (o.opcode) predicates.push(["opcode", parseQueryFilter(o.opcode)]);
      const rate = /^RATE_LIMIT:(\d+)$/.exec(o.action);
      const action = rate ? ["RATE_LIMIT", Number(rate[1])] : o.action;
      const uuid = await (await clientOf(c)).request("POST", "/2/filters", { priority: o.priority, action, predicates });
      process.stdout.write(`${String(uuid)}\n`);
    });
  cmd.command("remove").argument("<uuid>").option("-f, --force", "do not ask").description("remove a rule")
    .action(async (uuid: string, _o, c: Command) => {
      await confirm(c, `This will remove filter rule ${uuid}.`);
      await (await clientOf(c)).request("DELETE", `/2/filters/${enc(uuid)}`);
    });
  return cmd;
}
