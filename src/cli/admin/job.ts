// `corral job list|info|watch|cancel` (gnt-job over RAPI).

import { Command } from "commander";
import { clientOf, listFields, listOptions, listResource, printInfo } from "./common.ts";
import { firstResult, followJob } from "./follow.ts";
import { renderInfo } from "./output.ts";
import { UsageError } from "./params.ts";

export const JOB_LIST_FIELDS = ["id", "status", "summary"];

const jobId = (text: string): number => {
  if (!/^\d+$/.test(text)) throw new UsageError(`a job id is a number, not '${text}'`);
  return Number(text);
};

export function jobCommand(): Command {
  const cmd = new Command("job").description("jobs: list, inspect, follow, cancel");
  listOptions(cmd.command("list").argument("[ids...]").description("list jobs (gnt-job list)"))
    .action((ids: string[], _o, c: Command) => listResource(c, "job", JOB_LIST_FIELDS, ids.map((i) => String(jobId(i))), "id"));
  listOptions(cmd.command("list-fields").argument("[fields...]").description("the fields job list can show"))
    .action((names: string[], _o, c: Command) => listFields(c, "job", names));
  cmd.command("info").argument("<id>").option("--format <format>", "text or json").description("a job: its opcodes, status, log and result (gnt-job info)")
    .action(async (id: string, _o, c: Command) => printInfo(c, await (await clientOf(c)).request("GET", `/2/jobs/${jobId(id)}`)));
  cmd.command("watch").argument("<id>").description("follow a job's log until it ends (gnt-job watch); Ctrl-C stops watching, not the job")
    .action(async (id: string, _o, c: Command) => {
      const job = await followJob(await clientOf(c), jobId(id), { submit: false, header: `Output from job ${jobId(id)} follows\n${"-".repeat(40)}\n` });
      const result = firstResult(job);
      if (result !== null && result !== undefined) process.stdout.write(renderInfo({ result }));
    });
  cmd.command("cancel").argument("<id>").description("cancel a job that has not finished (gnt-job cancel)")
    .action(async (id: string, _o, c: Command) => {
      const [ok, message] = (await (await clientOf(c)).request("DELETE", `/2/jobs/${jobId(id)}`)) as [boolean, string];
      if (!ok) throw new UsageError(message);
      process.stdout.write(`${message}\n`);
    });
  return cmd;
}
