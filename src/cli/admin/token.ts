// `corral token create|list|show|revoke`: scoped API tokens over /corral/1/tokens (a users-file
// write user manages them; the token itself never can).

import { Command } from "commander";
import { formatGrant, GrantError, parseGrant, type Grant } from "../../model/tokens.ts";
import { clientOf, enc, printInfo } from "./common.ts";
import { table } from "./output.ts";
import { collect, UsageError } from "./params.ts";

const GRANT_HELP = `
A grant is access:kind[:name=N1,N2][:tag=T1,T2][:op=OP_ID,OP_PREFIX_*]
  access  read or write (write implies read)
  kind    instance, node, group, network, cluster, job, filter or * (every kind)
  name=   only these objects; tag= only objects carrying all these tags;
  op=     only jobs of these opcodes (a trailing * is a prefix)
A token can do what one of its grants allows and its owner (you) may do; lists of a
whole kind need a grant without name= or tag=.

Examples:
  corral token create --grant read:* --expires 30d --description "monitoring"
  corral token create --grant write:instance:tag=team:web --grant read:node --expires 7d
  corral token create --grant write:instance:name=web1.example.com:op=OP_INSTANCE_STARTUP,OP_INSTANCE_SHUTDOWN --expires 12h
`;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 };

/** "30d", "12h", "90m", "3600" (seconds) → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhdwy]?)$/.exec(text.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(`--expires takes a duration such as 30d, 12h, 90m or 1y, not '${text}'`);
  return Number(m[1]) * UNIT_SECONDS[m[2] || "s"];
}

interface TokenView {
  id: string;
  owner: string;
  description: string;
  grants: Grant[];
  expires: number;
}

const date = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

export function tokenCommand(): Command {
  const cmd = new Command("token").description("scoped API tokens (bearer tokens with grants and an expiry)");
  cmd.command("create")
    .description("create a token; it is printed once, on stdout")
    .requiredOption("--grant <grant>", "what the token may do (repeat for several; see below)", collect)
    .requiredOption("--expires <duration>", "lifetime: 30d, 12h, 90m, 1y (at most a year)")
    .option("--description <text>", "what the token is for")
    .option("--format <format>", "text (the token alone) or json")
    .addHelpText("after", GRANT_HELP)
    .action(async (o: { grant: string[]; expires: string; description?: string; format?: string }, c: Command) => {
      let grants: Grant[];
      try {
        grants = o.grant.map(parseGrant);
      } catch (err) {
        throw err instanceof GrantError ? new UsageError(err.message) : err;
      }
      const body = { description: o.description ?? "", grants, expires_in: parseDuration(o.expires) };
      const created = (await (await clientOf(c)).request("POST", "/corral/1/tokens", body)) as TokenView & { token: string };
      if (o.format === "json") return printInfo(c, created);
      process.stderr.write(`Created API token ${created.id}, expiring ${date(created.expires)}; it is shown only this once:\n`);
      process.stdout.write(`${created.token}\n`);
    });
  cmd.command("list").description("list tokens (never their secrets)")
    .action(async (_o, c: Command) => {
      const tokens = (await (await clientOf(c)).request("GET", "/corral/1/tokens")) as TokenView[];
      const rows = tokens.map((t) => [t.id, t.owner, date(t.expires), t.grants.map(formatGrant).join(" "), t.description]);
      process.stdout.write(table(["ID", "Owner", "Expires", "Grants", "Description"], rows));
    });
  cmd.command("show").argument("<id>").option("--format <format>", "text or json").description("a token's owner, grants and expiry")
    .action(async (id: string, _o, c: Command) => printInfo(c, await (await clientOf(c)).request("GET", `/corral/1/tokens/${enc(id)}`)));
  cmd.command("revoke").argument("<id>").description("revoke a token: refused from its next request on, and its queued jobs fail")
    .action(async (id: string, _o, c: Command) => {
      await (await clientOf(c)).request("DELETE", `/corral/1/tokens/${enc(id)}`);
      process.stdout.write(`Revoked API token ${id}\n`);
    });
  return cmd;
}
