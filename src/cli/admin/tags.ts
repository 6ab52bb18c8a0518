// `corral RESOURCE tags list|add|remove NAME [TAG…]` (gnt-* list-tags, add-tags, remove-tags);
// `corral cluster tags …` has no NAME.

import { Command } from "commander";
import { clientOf, runJob, writeOptions } from "./common.ts";
import { UsageError } from "./params.ts";

const tagQuery = (tags: readonly string[]) => "?" + tags.map((t) => `tag=${encodeURIComponent(t)}`).join("&");

/** `pathOf(name)` is the resource's tags path (ignoring `name` for the cluster). */
export function tagCommands(what: string, pathOf: (name: string) => string, named = true): Command {
  const cmd = new Command("tags").description(`the tags of ${named ? `a ${what}` : `the ${what}`}`);
  const nameArg = (c: Command) => (named ? c.argument("<name>") : c);
  const args = (all: unknown[]): [string, string[], Command] => {
    const c = all[all.length - 1] as Command;
    return named ? [all[0] as string, all[1] as string[], c] : ["", all[0] as string[], c];
  };
  nameArg(cmd.command("list")).description(`list the tags`).action(async (...all: unknown[]) => {
    const c = all[all.length - 1] as Command;
    const tags = (await (await clientOf(c)).request("GET", pathOf(named ? (all[0] as string) : ""))) as string[];
    process.stdout.write(tags.map((t) => `${t}\n`).join(""));
  });
  for (const [verb, method] of [["add", "PUT"], ["remove", "DELETE"]] as const) {
    writeOptions(nameArg(cmd.command(verb)).argument("<tags...>").description(`${verb} tags`), true).action((...all: unknown[]) => {
      const [name, tags, c] = args(all);
      if (tags.length === 0) throw new UsageError("no tags given");
      return runJob(c, method, pathOf(name) + tagQuery(tags));
    });
  }
  return cmd;
}
