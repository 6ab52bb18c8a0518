// `corral node list|info|add|remove|modify|migrate|evacuate|role` (gnt-node over RAPI; joining
// and removing through Corral's /corral/1/nodes, whose jobs check the node's agent first).

import { Command, Option } from "commander";
import { nodeJoinBody } from "../../client/nodes.ts";
import { clientOf, confirm, enc, listFields, listOptions, listResource, printInfo, submitJob, runJob, writeOptions } from "./common.ts";
import { followJobs } from "./follow.ts";
import { corralMigrationFlags } from "./instance.ts";
import { UsageError } from "./params.ts";
import { tagCommands } from "./tags.ts";

/** gnt-node list's default fields. */
export const NODE_LIST_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt"];

const path = (name: string, rest = "") => `/2/nodes/${enc(name)}${rest}`;

const ROLES = ["master-candidate", "regular", "drained", "offline"];

export function nodeAdminCommands(cmd: Command): Command {
  listOptions(cmd.command("list").argument("[names...]").description("list nodes (gnt-node list)"))
    .action((names: string[], _o, c: Command) => listResource(c, "node", NODE_LIST_FIELDS, names));
  listOptions(cmd.command("list-fields").argument("[fields...]").description("the fields node list can show"))
    .action((names: string[], _o, c: Command) => listFields(c, "node", names));
  cmd.command("info").argument("<name>").option("--format <format>", "text or json").description("a node's configuration and state")
    .action(async (name: string, _o, c: Command) => printInfo(c, await (await clientOf(c)).request("GET", path(name))));

  writeOptions(cmd.command("add").argument("<name>").description("join a running node agent to the cluster (gnt-node add)"))
    .option("--endpoint <url>", "the agent, https://host:port (not needed with --readd)")
    .option("-g, --node-group <group>", "node group (needed when there is more than one)")
    .option("-s, --secondary-ip <ip>", "replication address (default: the primary IP)")
    .option("--primary-ip <ip>", "the node's address (default: the endpoint's host, resolved)")
    .option("--master-capable <yes|no>", "may become a master candidate", yesNo)
    .option("--vm-capable <yes|no>", "may host instances", yesNo)
    .option("--readd", "re-add a node that is already in the configuration")
    .action(async (name: string, o: { endpoint?: string; nodeGroup?: string; secondaryIp?: string; primaryIp?: string; masterCapable?: boolean; vmCapable?: boolean; readd?: boolean }, c: Command) => {
      if (!o.endpoint && !o.readd) throw new UsageError("corral node add needs --endpoint https://host:port of the node's agent");
      const body = nodeJoinBody({
        // An empty string given for an option leaves it out, as not giving it does.
        name, endpoint: o.endpoint || undefined, group: o.nodeGroup || undefined,
        primaryIp: o.primaryIp || undefined, secondaryIp: o.secondaryIp || undefined,
        masterCapable: o.masterCapable, vmCapable: o.vmCapable, readd: o.readd === true,
      });
      const job = await submitJob(c, "POST", "/corral/1/nodes", body);
      if (job) process.stdout.write(`node ${name} joined the cluster\n`);
    });
  writeOptions(cmd.command("remove").argument("<name>").description("take a node out of the cluster (gnt-node remove)"))
    .action(async (name: string, _o, c: Command) => {
      const job = await submitJob(c, "DELETE", `/corral/1/nodes/${enc(name)}`);
      if (job) process.stdout.write(`node ${name} removed from the cluster\n`);
    });
  // Ganeti's node modify takes dry_run in its body, not the query.
  writeOptions(cmd.command("modify").argument("<name>").description("change a node's flags (gnt-node modify)"))
    .option("--dry-run", "check the request without changing anything")
    .option("-C, --master-candidate <yes|no>", "master candidate", yesNo)
    .option("-O, --offline <yes|no>", "offline", yesNo)
    .option("-D, --drained <yes|no>", "drained: no new instances", yesNo)
    .option("--master-capable <yes|no>", "may become a master candidate", yesNo)
    .option("--vm-capable <yes|no>", "may host instances", yesNo)
    .option("--auto-promote", "promote another node to master candidate if needed")
    .option("--force", "even against Ganeti's checks")
    .action((name: string, o: { masterCandidate?: boolean; offline?: boolean; drained?: boolean; masterCapable?: boolean; vmCapable?: boolean; autoPromote?: boolean; force?: boolean; dryRun?: boolean }, c: Command) => {
      const body: Record<string, unknown> = {};
      if (o.masterCandidate !== undefined) body.master_candidate = o.masterCandidate;
      if (o.offline !== undefined) body.offline = o.offline;
      if (o.drained !== undefined) body.drained = o.drained;
      if (o.masterCapable !== undefined) body.master_capable = o.masterCapable;
      if (o.vmCapable !== undefined) body.vm_capable = o.vmCapable;
      if (Object.keys(body).length === 0) throw new UsageError("nothing to change: give -C, -O, -D, --master-capable or --vm-capable");
      if (o.autoPromote) body.auto_promote = true;
      if (o.force) body.force = true;
      if (o.dryRun) body.dry_run = true;
      return runJob(c, "POST", path(name, "/modify"), body);
    });
  writeOptions(cmd.command("migrate").argument("<name>").description("move every primary instance of a node live (gnt-node migrate)"))
    .option("-n, --target-node <node>", "where they go (default: the allocator chooses)")
    .option("--non-live", "pause each instance while its memory moves")
    .option("--with-storage", "Corral: move node-local (file) disks too (kvm)")
    .option("--tls", "Corral: encrypt the migration traffic (kvm)")
    .option("-f, --force", "do not ask")
    .action(async (name: string, o: { targetNode?: string; nonLive?: boolean; withStorage?: boolean; tls?: boolean }, c: Command) => {
      await confirm(c, `This will migrate every primary instance of node ${name}.`);
      const body = { mode: o.nonLive ? "non-live" : "live", ...(o.targetNode ? { target_node: o.targetNode } : {}), ...corralMigrationFlags(o) };
      await followChildren(c, await submitJob(c, "POST", path(name, "/migrate"), body));
    });
  writeOptions(cmd.command("evacuate").argument("<name>").description("move instances off a node (gnt-node evacuate)"), true)
    .addOption(new Option("--mode <mode>", "which instances").choices(["primary-only", "secondary-only", "all"]).default("all"))
    .option("-I, --iallocator <name>", "choose the new nodes with this allocator (default hail)", "hail")
    .option("-n, --new-node <node>", "move them to this node")
    .option("--early-release", "release locks early")
    .option("--with-storage", "Corral: move instances on node-local (file) disks too, live with their disks (kvm)")
    .option("--tls", "Corral: encrypt the migrations' traffic (kvm)")
    .option("-f, --force", "do not ask")
    .action(async (name: string, o: { mode: string; iallocator: string; newNode?: string; earlyRelease?: boolean; withStorage?: boolean; tls?: boolean }, c: Command) => {
      await confirm(c, `This will move the ${o.mode === "all" ? "" : o.mode + " "}instances off node ${name}.`);
      const body = { mode: o.mode, ...(o.newNode ? { remote_node: o.newNode } : { iallocator: o.iallocator }), early_release: o.earlyRelease === true, ...corralMigrationFlags(o) };
      await followChildren(c, await submitJob(c, "POST", path(name, "/evacuate"), body));
    });
  const role = cmd.command("role").description("show or set a node's role");
  role.command("get").argument("<name>").action(async (name: string, _o, c: Command) => {
    process.stdout.write(`${String(await (await clientOf(c)).request("GET", path(name, "/role")))}\n`);
  });
  writeOptions(role.command("set").argument("<name>").argument("<role>", ROLES.join(", ")))
    .option("--force", "even against Ganeti's checks")
    .action((name: string, r: string, o: { force?: boolean }, c: Command) => {
      if (!ROLES.includes(r)) throw new UsageError(`the role is one of ${ROLES.join(", ")}, not '${r}'`);
      return runJob(c, "PUT", path(name, `/role${o.force ? "?force=1" : ""}`), r);
    });
  cmd.addCommand(tagCommands("node", (n) => path(n, "/tags")));
  return cmd;
}

function yesNo(value: string): boolean {
  if (/^(yes|y|true|1)$/i.test(value)) return true;
  if (/^(no|n|false|0)$/i.test(value)) return false;
  throw new UsageError(`expected yes or no, not '${value}'`);
}

/** A node migrate or evacuate job's result names the jobs it submitted: follow each. */
async function followChildren(c: Command, job: Record<string, unknown> | null): Promise<void> {
  const result = job && Array.isArray(job.opresult) ? (job.opresult[0] as { jobs?: [boolean, number | string][] } | null) : null;
  const jobs = result?.jobs ?? [];
  if (!job) return;
  if (jobs.length === 0) return void process.stdout.write("Nothing to do.\n");
  await followJobs(await clientOf(c), jobs);
}
