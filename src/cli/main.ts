// The `corral` command: a dispatcher that loads only what the command needs (an admin command
// starts in a fraction of the time the master's code would take to load).

import { CORRAL_VERSION } from "../version.ts";

const USAGE = `Usage: corral <command> [options]

Daemons:
  master       run the master daemon (config, job queue, RAPI)
  node-agent   run a node agent (also: corral node with agent options; corral node-agent --help)

Administration (each with --help):
  instance     list, add, start, stop, reboot, migrate, failover, modify, remove… instances
  node         list, info, add, remove, modify, migrate, evacuate nodes; role
  group, network, cluster, os, filter
  job          list, info, watch, cancel jobs
  store        users put FILE, pvc-config put FILE: what the masters on etcd share;
               migrate --from sqlite:DIR --to etcd://… (and back): move a cluster's store
  completion   print the bash or zsh completion script

  version      print the version

\`corral master --help\` and \`corral node-agent --help\` list the daemons' options.
`;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "master":
      return (await import("./master.ts")).masterCommand(rest);
    case "node":
      // Without a subcommand (or with agent flags) `corral node` is the agent daemon, as before.
      if (rest.length === 0 || rest[0].startsWith("-") && rest[0] !== "-h" && rest[0] !== "--help") return (await import("./node.ts")).nodeAgentCommand(rest, log);
      return (await import("./admin/run.ts")).runAdmin(argv);
    case "node-agent":
      return (await import("./node.ts")).nodeAgentCommand(rest, log);
    case "store":
      if (rest[0] === "migrate") return (await import("./migrate.ts")).migrateCommand(rest.slice(1));
      return (await import("./shared.ts")).sharedCommand(rest);
    case "version":
    case "--version":
      process.stdout.write(`corral ${CORRAL_VERSION}\n`);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      return (await import("./admin/run.ts")).runAdmin(argv);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log(`corral: ${(err as Error).message}`);
  process.exit(1);
});
