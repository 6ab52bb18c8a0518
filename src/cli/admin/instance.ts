// `corral instance …`: gnt-instance's daily commands over RAPI.

import { Command, Option } from "commander";
import { clientOf, confirm, enc, listFields, listOptions, listResource, printInfo, query, submitJob, runJob, writeOptions } from "./common.ts";
import { firstResult, followJob } from "./follow.ts";
import { collect, hypervisorParams, indexedList, parseIdentKeyValues, parseKeyValues, parseUnit, UsageError } from "./params.ts";
import { tagCommands } from "./tags.ts";

/** gnt-instance list's default fields. */
export const INSTANCE_LIST_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"];

const path = (name: string, rest = "") => `/2/instances/${enc(name)}${rest}`;

interface AddValues {
  diskTemplate?: string;
  disk?: string[];
  net?: string[];
  /** --no-nics */
  nics?: boolean;
  os?: string;
  backendParameters?: string;
  hypervisorParameters?: string;
  osParameters?: string;
  node?: string;
  iallocator?: string;
  start?: boolean;
  install?: boolean;
  nameCheck?: boolean;
  ipCheck?: boolean;
}

/** The body of POST /2/instances (version 1) from gnt-instance add's flags. */
export function createBody(name: string, v: AddValues): Record<string, unknown> {
  if (!v.diskTemplate) throw new UsageError("-t/--disk-template is required (e.g. -t sharedfile, -t file, -t diskless)");
  const body: Record<string, unknown> = {
    __version__: 1, mode: "create", name, disk_template: v.diskTemplate,
    disks: indexedList(v.disk ?? [], "--disk"),
    nics: v.nics === false ? [] : indexedList(v.net ?? ["0:"], "--net"),
    start: v.start !== false, no_install: v.install === false,
    name_check: v.nameCheck !== false, ip_check: v.ipCheck !== false,
  };
  if (v.nics === false && v.net) throw new UsageError("give either --net or --no-nics");
  if (v.diskTemplate !== "diskless" && (body.disks as unknown[]).length === 0) throw new UsageError("--disk 0:size=SIZE is required for a disk template with disks");
  if (v.os) body.os_type = v.os;
  else if (v.install !== false) throw new UsageError("-o/--os-type is required (or --no-install)");
  if (v.backendParameters) body.beparams = parseKeyValues(v.backendParameters, "-B");
  if (v.hypervisorParameters) {
    const h = hypervisorParams(v.hypervisorParameters);
    if (h.hypervisor) body.hypervisor = h.hypervisor;
    body.hvparams = h.params;
  }
  if (v.osParameters) body.osparams = parseKeyValues(v.osParameters, "-O");
  if (v.node && v.iallocator) throw new UsageError("give either -n/--node or -I/--iallocator");
  if (v.node) {
    const [pnode, snode] = v.node.split(":");
    body.pnode = pnode;
    if (snode) body.snode = snode;
  }
  if (v.iallocator) body.iallocator = v.iallocator;
  return body;
}

/** `--disk add:size=1G`, `--disk remove`, `--disk 1:mode=ro` → RAPI modify's [op, index, params]. */
function deviceChanges(values: readonly string[], what: string): [string, number, Record<string, unknown>][] {
  return values.map((v) => {
    const [ident, params] = parseIdentKeyValues(v, what);
    if (ident === "add") return ["add", -1, params];
    if (ident === "remove") return ["remove", -1, {}];
    if (/^\d+$/.test(ident)) return ["modify", Number(ident), params];
    const [op, index] = ident.split("/") as [string, string | undefined];
    if ((op === "add" || op === "remove") && index !== undefined && /^-?\d+$/.test(index)) return [op, Number(index), params];
    throw new UsageError(`${what} '${v}': expected add:…, remove, N:… or add/N:…`);
  });
}

export function instanceCommand(): Command {
  const cmd = new Command("instance").description("instances: list, create, start and stop, move, change, remove");
  listOptions(cmd.command("list").argument("[names...]").description("list instances (gnt-instance list)"))
    .action((names: string[], _o, c: Command) => listResource(c, "instance", INSTANCE_LIST_FIELDS, names));
  listOptions(cmd.command("list-fields").argument("[fields...]").description("the fields instance list can show"))
    .action((names: string[], _o, c: Command) => listFields(c, "instance", names));

  cmd.command("info").argument("<name>").option("-s, --static", "only the configuration, no live data").option("--format <format>", "text or json")
    .description("everything about an instance (gnt-instance info)")
    .action(async (name: string, o: { static?: boolean }, c: Command) => {
      const client = await clientOf(c);
      const job = await followJob(client, await client.request("GET", path(name, `/info${query({ static: o.static === true })}`)), { submit: false, out: silent });
      printInfo(c, firstResult(job));
    });

  writeOptions(cmd.command("add").argument("<name>").description("create an instance (gnt-instance add)"), true)
    .requiredOption("-t, --disk-template <template>", "disk template: sharedfile, file, diskless, ext…")
    .option("--disk <N:size=SIZE,...>", "a disk, by index (repeatable): --disk 0:size=10G", collect)
    .option("--net <N:key=value,...>", "a NIC, by index (repeatable): --net 0:link=br0 (default: one NIC)", collect)
    .option("--no-nics", "no network interface at all")
    .option("-o, --os-type <os>", "OS definition (variant: os+variant)")
    .option("-B, --backend-parameters <k=v,...>", "backend parameters: maxmem=1G,minmem=512M,vcpus=2")
    .option("-H, --hypervisor-parameters <hv:k=v,...>", "hypervisor and its parameters: kvm:kernel_path=/boot/vmlinuz")
    .option("-O, --os-parameters <k=v,...>", "OS parameters")
    .option("-n, --node <pnode[:snode]>", "primary (and secondary) node")
    .option("-I, --iallocator <name>", "choose the nodes with this allocator (hail)")
    .option("--no-start", "do not start the instance once created")
    .option("--no-install", "do not run the OS definition's create script")
    .option("--no-name-check", "do not check the name in DNS")
    .option("--no-ip-check", "do not check that the address is unused")
    .action(async (name: string, o: AddValues & { osType?: string }, c: Command) => {
      const body = createBody(name, { ...o, os: o.osType });
      await submitJob(c, "POST", "/2/instances", body);
    });

  writeOptions(cmd.command("start").argument("<name>").description("start an instance (gnt-instance startup)"), true)
    .option("--force", "start even if the instance is marked offline… as Ganeti's --force")
    .action((name: string, o: { force?: boolean }, c: Command) =>
      runJob(c, "PUT", path(name, `/startup${query({ force: o.force })}`)));
  writeOptions(cmd.command("stop").argument("<name>").description("stop an instance (gnt-instance shutdown)"), true)
    .option("--timeout <seconds>", "how long the guest may take to power off before it is stopped by force", (s) => Number(s))
    .action((name: string, o: { timeout?: number }, c: Command) =>
      runJob(c, "PUT", path(name, "/shutdown"), o.timeout === undefined ? undefined : { timeout: o.timeout }));
  writeOptions(cmd.command("reboot").argument("<name>").description("reboot an instance (gnt-instance reboot)"), true)
    .addOption(new Option("--type <type>", "soft (guest), hard (new process) or full (stop and start)").choices(["soft", "hard", "full"]).default("hard"))
    .action((name: string, o: { type: string }, c: Command) =>
      runJob(c, "POST", path(name, `/reboot${query({ type: o.type })}`)));

  writeOptions(cmd.command("migrate").argument("<name>").description("move a running instance live to another node (gnt-instance migrate)"))
    .option("-n, --target-node <node>", "the node to move to (default: chosen by the allocator or the secondary)")
    .option("--non-live", "pause the instance while its memory moves")
    .option("--cleanup", "clean up after a failed migration")
    .option("--allow-failover", "fail over if the instance cannot be migrated")
    .option("--with-storage", "Corral: move node-local (file) disks too, mirrored while the instance runs (kvm)")
    .option("--tls", "Corral: encrypt the migration traffic (kvm)")
    .action((name: string, o: { targetNode?: string; nonLive?: boolean; cleanup?: boolean; allowFailover?: boolean; withStorage?: boolean; tls?: boolean }, c: Command) =>
      runJob(c, "PUT", path(name, "/migrate"), {
        mode: o.nonLive ? "non-live" : "live", ...(o.targetNode ? { target_node: o.targetNode } : {}),
        ...(o.cleanup ? { cleanup: true } : {}), ...(o.allowFailover ? { allow_failover: true } : {}),
        ...corralMigrationFlags(o),
      }));
  writeOptions(cmd.command("failover").argument("<name>").description("stop an instance and start it on another node (gnt-instance failover)"))
    .option("-n, --target-node <node>", "the node to move to")
    .option("--ignore-consistency", "fail over even if the disks are not in sync")
    .action((name: string, o: { targetNode?: string; ignoreConsistency?: boolean }, c: Command) =>
      runJob(c, "PUT", path(name, "/failover"), { ...(o.targetNode ? { target_node: o.targetNode } : {}), ...(o.ignoreConsistency ? { ignore_consistency: true } : {}) }));

  writeOptions(cmd.command("remove").argument("<name>").description("remove an instance and its disks (gnt-instance remove)"), true)
    .option("-f, --force", "do not ask")
    .option("--ignore-failures", "remove it from the configuration even if its node fails")
    .action(async (name: string, o: { ignoreFailures?: boolean }, c: Command) => {
      await confirm(c, `This will remove instance ${name} and all its disks.`);
      await submitJob(c, "DELETE", path(name, query({ ignore_failures: o.ignoreFailures })));
    });
  writeOptions(cmd.command("rename").argument("<name>").argument("<new-name>").description("rename an instance (gnt-instance rename)"), true)
    .option("--no-name-check", "do not check the new name in DNS")
    .option("--no-ip-check", "do not check that the new address is unused")
    .action((name: string, newName: string, o: { nameCheck?: boolean; ipCheck?: boolean }, c: Command) =>
      runJob(c, "PUT", path(name, "/rename"), { new_name: newName, name_check: o.nameCheck !== false, ip_check: o.ipCheck !== false }));
  writeOptions(cmd.command("modify").argument("<name>").description("change an instance's parameters and devices (gnt-instance modify)"), true)
    .option("-B, --backend-parameters <k=v,...>", "backend parameters")
    .option("-H, --hypervisor-parameters <k=v,...>", "hypervisor parameters")
    .option("-O, --os-parameters <k=v,...>", "OS parameters")
    .option("--disk <change>", "add:size=SIZE, remove, or N:key=value (repeatable)", collect)
    .option("--net <change>", "add:link=BR, remove, or N:key=value (repeatable)", collect)
    .option("-t, --disk-template <template>", "convert the disks to another template")
    .option("--offline", "mark the instance offline")
    .option("--online", "mark the instance online again")
    .action((name: string, o: { backendParameters?: string; hypervisorParameters?: string; osParameters?: string; disk?: string[]; net?: string[]; diskTemplate?: string; offline?: boolean; online?: boolean }, c: Command) => {
      const body: Record<string, unknown> = {};
      if (o.backendParameters) body.beparams = parseKeyValues(o.backendParameters, "-B");
      if (o.hypervisorParameters) body.hvparams = hypervisorParams(o.hypervisorParameters).params;
      if (o.osParameters) body.osparams = parseKeyValues(o.osParameters, "-O");
      if (o.disk) body.disks = deviceChanges(o.disk, "--disk");
      if (o.net) body.nics = deviceChanges(o.net, "--net");
      if (o.diskTemplate) body.disk_template = o.diskTemplate;
      if (o.offline) body.offline = true;
      if (o.online) body.offline = false;
      if (Object.keys(body).length === 0) throw new UsageError("nothing to change: give -B, -H, -O, --disk, --net, -t, --offline or --online");
      return runJob(c, "PUT", path(name, "/modify"), body);
    });
  writeOptions(cmd.command("reinstall").argument("<name>").description("run the OS definition's create script again (gnt-instance reinstall)"))
    .option("-o, --os-type <os>", "another OS definition")
    .option("-O, --os-parameters <k=v,...>", "OS parameters")
    .option("--no-start", "leave the instance stopped afterwards")
    .option("-f, --force", "do not ask")
    .action(async (name: string, o: { osType?: string; osParameters?: string; start?: boolean }, c: Command) => {
      await confirm(c, `This will reinstall instance ${name}, erasing its disks' data.`);
      await submitJob(c, "POST", path(name, "/reinstall"), {
        ...(o.osType ? { os: o.osType } : {}), ...(o.osParameters ? { osparams: parseKeyValues(o.osParameters, "-O") } : {}), start: o.start !== false,
      });
    });
  writeOptions(cmd.command("grow-disk").argument("<name>").argument("<disk>", "disk index").argument("<amount>", "by how much (or to what with --absolute): 1G, 512M")
    .description("grow one of an instance's disks (gnt-instance grow-disk)"), true)
    .option("--absolute", "AMOUNT is the new size, not the growth")
    .action((name: string, disk: string, amount: string, o: { absolute?: boolean }, c: Command) => {
      if (!/^\d+$/.test(disk)) throw new UsageError(`the disk index must be a number, not '${disk}'`);
      return runJob(c, "POST", path(name, `/disk/${disk}/grow`), { amount: parseUnit(amount), absolute: o.absolute === true });
    });
  writeOptions(cmd.command("activate-disks").argument("<name>").description("make an instance's disks available on its node (gnt-instance activate-disks)"))
    .action((name: string, _o, c: Command) => runJob(c, "PUT", path(name, "/activate-disks")));
  writeOptions(cmd.command("deactivate-disks").argument("<name>").description("release an instance's disks (gnt-instance deactivate-disks)"))
    .option("--force", "even if the instance runs")
    .action((name: string, o: { force?: boolean }, c: Command) => runJob(c, "PUT", path(name, `/deactivate-disks${query({ force: o.force })}`)));
  writeOptions(cmd.command("export").argument("<name>").description("export an instance to a node (gnt-backup export)"))
    .requiredOption("-n, --node <node>", "the node that keeps the export")
    .option("--noshutdown", "do not stop the instance for the export")
    .option("--remove-instance", "remove the instance once exported")
    .action((name: string, o: { node: string; noshutdown?: boolean; removeInstance?: boolean }, c: Command) =>
      runJob(c, "PUT", path(name, "/export"), { mode: "local", destination: o.node, shutdown: o.noshutdown !== true, remove_instance: o.removeInstance === true }));

  cmd.command("console").argument("<name>").description("how to reach an instance's console (gnt-instance console --show-cmd)")
    .option("--format <format>", "text or json")
    .action(async (name: string, _o, c: Command) => {
      const client = await clientOf(c);
      const info = (await client.request("GET", path(name, "/console"))) as Record<string, unknown>;
      if (c.opts<{ format?: string }>().format === "json") return void process.stdout.write(JSON.stringify(info, null, 2) + "\n");
      if (info.kind === "vnc") process.stdout.write(`VNC console of ${name}: vnc://${String(info.host)}:${String(info.port)} (display ${String(info.display)})\n`);
      else if (info.kind === "ssh" && Array.isArray(info.command)) process.stdout.write(`${(info.command as string[]).join(" ")}\n`);
      else if (typeof info.message === "string") process.stdout.write(`${info.message}\n`);
      else process.stdout.write(JSON.stringify(info) + "\n");
    });

  cmd.addCommand(tagCommands("instance", (n) => path(n, "/tags")));
  return cmd;
}

/** Corral's migration extensions (OP_INSTANCE_MIGRATE, OP_NODE_MIGRATE), sent only when asked for. */
export function corralMigrationFlags(o: { withStorage?: boolean; tls?: boolean }): Record<string, boolean> {
  return { ...(o.withStorage ? { migrate_storage: true } : {}), ...(o.tls ? { migrate_tls: true } : {}) };
}

/** Where a command sends a job log it does not show. */
const silent = { write: () => true };
