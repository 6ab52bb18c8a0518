// `corral cluster balance|capacity|verify-capacity|autobalance`: Corral's balancing over
// /corral/1 (hbal's plan and its jobs, hspace's capacity, hcheck's checks) and the automatic
// balancing setting (PUT /2/modify's auto_balancing). The API checks every value; the command
// passes them on as given, so a bad one is the API's 400 in its words.

import { Command } from "commander";
import type { Capacity, Resources } from "../../balance/capacity.ts";
import type { Plan } from "../../balance/plan.ts";
import type { Health } from "../../balance/verify.ts";
import type { AutoBalance, AutoBalanceStatus } from "../../model/autobalance.ts";
import { clientOf, printInfo, query, runJob } from "./common.ts";
import { followJobs } from "./follow.ts";
import { formatUnit, table, type TextOut } from "./output.ts";
import { collect, parseUnit, UsageError } from "./params.ts";

const json = (c: Command) => {
  const format = c.opts<{ format?: string }>().format ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--format takes text or json, not '${format}'`);
  return format === "json";
};
const score = (n: number) => n.toFixed(8);
const when = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

interface BalanceValues {
  group?: string;
  maxMoves?: string;
  moves?: string;
  instance?: string[];
  exclude?: string[];
  pinTag?: string[];
  exclusionTag?: string[];
  minGain?: string;
  minGainLimit?: string;
  restrictedMigration?: boolean;
  storageMoves?: boolean;
  apply?: boolean;
  dryRun?: boolean;
  submit?: boolean;
}

/** What POST /corral/1/balance answers besides the plan. */
interface Applied extends Plan {
  job_ids: (number | null)[];
  jobs: { move: number; ops: Record<string, unknown>[] }[];
}

const node = (n: { primary: string; secondary: string | null }) => (n.secondary === null ? n.primary : `${n.primary}:${n.secondary}`);

/** The plan as hbal reports one: the scores, the moves in order (numbered from 1), the jobsets. */
function renderPlan(p: Plan): string {
  const head = [`Group: ${p.group}`, `Initial score: ${score(p.initial_score)}`, `Final score: ${score(p.final_score)} (optimal ${score(p.optimal_score)})`, `Moves: ${p.moves.length}`];
  if (p.moves.length === 0) return `${head.join("\n")}\n`;
  const rows = p.moves.map((m, i) => [String(i + 1), m.instance, m.kind, node(m.from), node(m.to), score(m.score)]);
  const moves = table(["Move", "Instance", "Kind", "From", "To", "Score"], rows, ["right", "left", "left", "left", "left", "right"]);
  const jobsets = p.jobsets.map((set) => set.map((m) => m + 1).join(",")).join(" | ");
  return `${head.join("\n")}\n${moves}Jobsets (moves that may run together, in order): ${jobsets}\n`;
}

/** A dry run's jobs: each move's opcodes with what they name. */
function renderJobs(a: Applied): string {
  const op = (o: Record<string, unknown>) => {
    const target = o.target_node ?? o.remote_node;
    return `${String(o.OP_ID)} ${String(o.instance_name)}${target === undefined ? "" : ` -> ${String(target)}`}${o.migrate_storage === true ? " (with storage)" : ""}`;
  };
  return `Jobs (dry run, nothing submitted):\n${a.jobs.map((j) => `  move ${j.move + 1}: ${j.ops.map(op).join("; ")}\n`).join("")}`;
}

function balanceCommand(): Command {
  return new Command("balance")
    .description("a node group's balancing plan (hbal's moves and scores); --apply submits it as jobs and follows them")
    .option("-g, --group <group>", "the node group (needed when several have nodes)")
    .option("--max-moves <n>", "at most this many moves")
    .option("--moves <kinds>", "move kinds allowed, comma-separated: migrate, failover, replace-secondary (default all)")
    .option("--instance <name>", "only this instance moves (repeat for several)", collect)
    .option("--exclude <name>", "this instance never moves (repeatable)", collect)
    .option("--pin-tag <tag>", "instances with this tag never move (repeatable)", collect)
    .option("--exclusion-tag <prefix>", "instances with tags of this prefix are kept apart (hbal --exclusion-tags; repeatable)", collect)
    .option("--min-gain <x>", "smallest gain of a move once the score is under --min-gain-limit (default 0.01)")
    .option("--min-gain-limit <x>", "score under which --min-gain applies (default 0.1)")
    .option("--restricted-migration", "no replace-primary moves of DRBD instances (hbal --restricted-migration)")
    .option("--storage-moves", "running file-disk instances may migrate with their disks (kvm)")
    .option("--apply", "submit the plan: one job per move, jobset after jobset, and follow them")
    .option("--dry-run", "show the jobs --apply would submit, submitting nothing")
    .option("--submit", "with --apply: print the job ids and return without following")
    .option("--format <format>", "text (default) or json (the API's answer; job logs then go to stderr)")
    .action(async (o: BalanceValues, c: Command) => {
      const asJson = json(c);
      const q = query({
        group: o.group, "max-moves": o.maxMoves, moves: o.moves, instance: o.instance, exclude: o.exclude, "pin-tag": o.pinTag,
        "exclusion-tag": o.exclusionTag, "min-gain": o.minGain, "min-gain-limit": o.minGainLimit,
        "restricted-migration": o.restrictedMigration, "storage-moves": o.storageMoves,
      });
      const client = await clientOf(c);
      if (!o.apply && !o.dryRun) {
        if (o.submit) throw new UsageError("--submit goes with --apply");
        const plan = (await client.request("GET", `/corral/1/balance${q}`)) as Plan;
        return void process.stdout.write(asJson ? JSON.stringify(plan, null, 2) + "\n" : renderPlan(plan));
      }
      const dry = o.dryRun === true ? `${q ? "&" : "?"}dry-run=1` : "";
      const applied = (await client.request("POST", `/corral/1/balance${q}${dry}`)) as Applied;
      process.stdout.write(asJson ? JSON.stringify(applied, null, 2) + "\n" : renderPlan(applied));
      if (o.dryRun) return void (asJson ? undefined : process.stdout.write(renderJobs(applied)));
      const ids = applied.job_ids.filter((id): id is number => id !== null);
      if (ids.length === 0) return;
      const out: TextOut = asJson ? process.stderr : process.stdout;
      if (o.submit) return void out.write(ids.map((id) => `JobID: ${id}\n`).join(""));
      const moveOf = new Map(applied.job_ids.map((id, m) => [id, m]));
      await followJobs(client, ids.map((id) => [true, id] as const), out, (id) => `Job ${id} (move ${(moveOf.get(id) ?? 0) + 1}: ${applied.moves[moveOf.get(id) ?? 0].instance}):\n`);
    });
}

const resources = (r: Resources) => [String(r.instances), formatUnit(r.memory_free, "h"), formatUnit(r.disk_free, "h"), String(r.vcpus_available), r.score.toFixed(4)];

/** hspace's summary: the spec, then per scope how many more fit, why no more, and the resources before and after. */
function renderCapacity(answer: { cluster: Capacity; groups: Capacity[] }): string {
  const s = answer.cluster.spec;
  const spec = `Instance spec: memory ${formatUnit(s.memory, "h")}, disk ${formatUnit(s.disk, "h")}, ${s.vcpus} vCPUs, spindles ${s.spindles}, spindle use ${s.spindle_use}, disk template ${s.disk_template}\n`;
  const rows = [answer.cluster, ...answer.groups].map((c) => [
    c.group ?? "(cluster)", String(c.count), c.stopped_by === "failure" ? (c.failure_reason ?? "-") : c.stopped_by,
    ...resources(c.before), ...resources(c.after).slice(1),
  ]);
  const head = ["Group", "Fit", "Stopped by", "Instances", "Mem free", "Disk free", "vCPUs free", "Score", "Mem after", "Disk after", "vCPUs after", "Score after"];
  const refusals = Object.entries(answer.cluster.failures).filter(([, n]) => n > 0).map(([mode, n]) => `${mode} ${n}`);
  const errors = [answer.cluster, ...answer.groups].filter((c) => c.error).map((c) => `${c.group ?? "cluster"}: ${c.error}\n`);
  return `${spec}${table(head, rows, ["left", ...Array<"right">(11).fill("right")])}Refusals of the last round: ${refusals.length ? refusals.join(", ") : "none"}\n${errors.join("")}`;
}

function capacityCommand(): Command {
  return new Command("capacity")
    .description("how many more instances of a spec fit, per node group and in the cluster (hspace)")
    .option("-g, --group <group>", "only this group among the groups (the cluster total is always shown)")
    .option("--memory <size>", "instance memory (512M, 2G; default: the policy's standard spec)")
    .option("--disk <size>", "instance disk size (default: the standard spec)")
    .option("--vcpus <n>", "instance vCPUs (default: the standard spec)")
    .option("--spindles <n>", "spindles of its disk, for exclusive storage")
    .option("--spindle-use <n>", "its spindle use")
    .option("-t, --disk-template <template>", "disk template (default: the first the policy allows)")
    .option("--limit <n>", "stop after this many (hspace -l)")
    .option("--no-capacity-checks", "skip the global N+1 check of each placement (hspace --no-capacity-checks)")
    .option("--format <format>", "text (default) or json")
    .action(async (o: { group?: string; memory?: string; disk?: string; vcpus?: string; spindles?: string; spindleUse?: string; diskTemplate?: string; limit?: string; capacityChecks: boolean }, c: Command) => {
      const q = query({
        group: o.group, memory: o.memory === undefined ? undefined : parseUnit(o.memory), disk: o.disk === undefined ? undefined : parseUnit(o.disk),
        vcpus: o.vcpus, spindles: o.spindles, spindle_use: o.spindleUse, disk_template: o.diskTemplate, limit: o.limit,
        no_capacity_checks: !o.capacityChecks,
      });
      const answer = (await (await clientOf(c)).request("GET", `/corral/1/capacity${q}`)) as { cluster: Capacity; groups: Capacity[] };
      process.stdout.write(json(c) ? JSON.stringify(answer, null, 2) + "\n" : renderCapacity(answer));
    });
}

/** hcheck's report: per group and for the cluster the counts, then the names behind them. */
function renderHealth(h: Health): string {
  const balance = (b: Health["groups"][number]["balance"]) => ("error" in b ? `cannot plan: ${b.error}` : `${b.moves} moves to ${b.final_score.toFixed(4)}`);
  const rows = h.groups.map((g) => [
    g.group, g.score.toFixed(4), String(g.n1_failures), String(g.evacuation_failures), String(g.offline_primaries), String(g.offline_nodes),
    String(g.conflicting_tags), String(g.nodes_over_policy.length), String(g.instances_violating_policy.length), balance(g.balance),
  ]);
  const k = h.cluster;
  rows.push(["(cluster)", "", String(k.n1_failures), String(k.evacuation_failures), String(k.offline_primaries), String(k.offline_nodes), String(k.conflicting_tags), "", "", ""]);
  const head = ["Group", "Score", "N+1 fail", "Unevacuable", "Offline pri", "Offline nodes", "Tag conflicts", "Nodes over policy", "Instances over policy", "Balancing"];
  const details = h.groups.flatMap((g) => [
    ...(g.n1_failed_nodes.length ? [`${g.group}: N+1 failures on ${g.n1_failed_nodes.join(", ")}`] : []),
    ...(g.unevacuable_nodes.length ? [`${g.group}: cannot evacuate ${g.unevacuable_nodes.join(", ")}`] : []),
    ...g.nodes_over_policy.map((n) => `${g.group}: node ${n.node} over its policy: ${n.over.join(", ")}`),
    ...g.instances_violating_policy.map((i) => `${g.group}: instance ${i.instance} violates the policy: ${i.failure}`),
  ]);
  return `${table(head, rows, ["left", ...Array<"right">(8).fill("right"), "left"])}${details.map((d) => `${d}\n`).join("")}Needs rebalance: ${k.needs_rebalance ? "yes" : "no"}\n`;
}

function verifyCapacityCommand(): Command {
  return new Command("verify-capacity")
    .description("the cluster's health as hcheck reports it: N+1 failures, nodes that could not be evacuated, offline nodes, policy violations, scores")
    .option("-g, --group <group>", "only this node group")
    .option("--format <format>", "text (default) or json")
    .action(async (o: { group?: string }, c: Command) => {
      const health = (await (await clientOf(c)).request("GET", `/corral/1/verify${query({ group: o.group })}`)) as Health;
      process.stdout.write(json(c) ? JSON.stringify(health, null, 2) + "\n" : renderHealth(health));
    });
}

/** A number option's value, or a usage error naming the option. */
const numberOf = (flag: string) => (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag} takes a number, not '${text}'`);
  return n;
};

interface SettingValues {
  threshold?: number;
  cooldown?: number;
  maxMoves?: number;
}

function settingOptions(cmd: Command): Command {
  return cmd
    .option("--threshold <score>", "balance a group only when its score is above this", numberOf("--threshold"))
    .option("--cooldown <seconds>", "seconds between rounds", numberOf("--cooldown"))
    .option("--max-moves <n>", "at most this many moves a round, over all groups", numberOf("--max-moves"))
    .option("--submit", "print the job id and return without following the job");
}

const settingChange = (o: SettingValues): Partial<AutoBalance> => ({
  ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
  ...(o.cooldown !== undefined ? { cooldown: o.cooldown } : {}),
  ...(o.maxMoves !== undefined ? { max_moves: o.maxMoves } : {}),
});

function renderAutoBalance(s: AutoBalanceStatus): string {
  const set = s.setting;
  const lines = [
    `Automatic balancing: ${set.enabled ? "enabled" : "disabled"}`,
    `  threshold: ${set.threshold}`,
    `  cooldown: ${set.cooldown} s`,
    `  max moves a round: ${set.max_moves}`,
    `  checked every ${s.interval} s (${s.checks} checks since the master started)`,
  ];
  const r = s.last_round;
  if (r === null) lines.push("Last round: none");
  else {
    lines.push(`Last round: ${r.round}, started ${when(r.started)}${r.error === null ? "" : `, failed: ${r.error}`}`);
    for (const g of r.groups) lines.push(`  group ${g.group}: score ${score(g.initial_score)} -> ${score(g.final_score)}, ${g.moves} moves, jobs ${g.job_ids.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

function autoBalanceCommand(): Command {
  const cmd = new Command("autobalance").description("automatic balancing: the setting and the last round (PUT /2/modify's auto_balancing)");
  const modify = (c: Command, change: Partial<AutoBalance>) => runJob(c, "PUT", "/2/modify", { auto_balancing: change });
  cmd.command("show").option("--format <format>", "text (default) or json").description("the setting, the check interval and the last round")
    .action(async (_o, c: Command) => {
      const status = (await (await clientOf(c)).request("GET", "/corral/1/balance/auto")) as AutoBalanceStatus;
      if (json(c)) return printInfo(c, status);
      process.stdout.write(renderAutoBalance(status));
    });
  settingOptions(cmd.command("enable").description("turn it on (with any other values given)"))
    .action((o: SettingValues, c: Command) => modify(c, { enabled: true, ...settingChange(o) }));
  cmd.command("disable").option("--submit", "print the job id and return without following the job").description("turn it off")
    .action((_o, c: Command) => modify(c, { enabled: false }));
  settingOptions(cmd.command("set").description("change the threshold, cooldown or moves a round (on or off as it is)"))
    .action((o: SettingValues, c: Command) => {
      const change = settingChange(o);
      if (Object.keys(change).length === 0) throw new UsageError("nothing to change: give --threshold, --cooldown or --max-moves");
      return modify(c, change);
    });
  return cmd;
}

/** Adds the balancing commands to `corral cluster`. */
export function addBalanceCommands(cluster: Command): void {
  cluster.addCommand(balanceCommand());
  cluster.addCommand(capacityCommand());
  cluster.addCommand(verifyCapacityCommand());
  cluster.addCommand(autoBalanceCommand());
}
