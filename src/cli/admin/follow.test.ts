// The command line's job log on a real terminal (tmux): progress lines drive one bar, and the
// job's other lines, even when they come between two progress updates, print above that bar
// instead of ending it and starting a second (a CI run's migration showed two bars when a
// "raising the downtime limit" line came mid-transfer).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { checkOneBarInPlace } from "../../../test/support/terminal.ts";
import { requireTools } from "../../../test/support/tools.ts";

const term = requireTools({ tools: ["tmux"] });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

term.describe("LogPrinter on a terminal", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-follow-"));
  const socket = `corral-follow-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync(term.path("tmux"), ["-L", socket, ...args], { encoding: "utf8", env: { ...process.env, LANG: "C.UTF-8" } });
  after(() => {
    try {
      tmux("kill-server");
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps one bar, updated in place, with the lines that come between its updates above it", async () => {
    // A job's log as the master sends it: [serial, [sec, usec], type, message], 150 ms apart.
    const script = join(dir, "print.ts");
    writeFileSync(script, `
import { LogPrinter } from ${JSON.stringify(new URL("./follow.ts", import.meta.url).pathname)};
const lines = [
  "* starting memory transfer",
  "* memory transfer progress: 10.0 % (7 of 70 MiB, pass 1)",
  "* memory transfer progress: 35.0 % (25 of 70 MiB, pass 2)",
  "* raising the downtime limit from 30 to 60 ms at pass 3: expected downtime 45 ms",
  "* memory transfer progress: 60.0 % (42 of 70 MiB, pass 3)",
  "* memory transfer progress: 100.0 % (70 of 70 MiB, pass 3)",
  "* memory transfer complete: precopy",
];
const printer = new LogPrinter();
for (const [i, text] of lines.entries()) {
  printer.print([i + 1, [1765000000 + i, 0], "message", text]);
  await new Promise((r) => setTimeout(r, 150));
}
printer.done();
process.stdout.write("PRINTED\\n");
`);
    tmux("new-session", "-d", "-s", "log", "-x", "120", "-y", "30", `${process.execPath} --disable-warning=ExperimentalWarning ${script}; sleep 30`);
    const screens: string[] = [];
    const deadline = Date.now() + 20_000;
    while (!screens.at(-1)?.includes("PRINTED")) {
      if (Date.now() > deadline) assert.fail(`the script did not end within 20 s; the screen:\n${screens.at(-1)}`);
      await sleep(40);
      screens.push(tmux("capture-pane", "-p", "-t", "log"));
    }
    const bar = /memory transfer \[.+\] (\d+)% /;
    const percents = checkOneBarInPlace(screens, bar);
    assert.ok(percents.length >= 3, `the bar moved: ${percents.join(", ")}`);
    const last = screens.at(-1)!.split("\n");
    const barRow = last.findIndex((r) => bar.test(r));
    assert.ok(barRow >= 0, `the bar is still on the screen at the end:\n${screens.at(-1)}`);
    assert.match(last[barRow], /100% 70 of 70 MiB, pass 3/, "the bar ends in its last state");
    const above = last.slice(0, barRow).join("\n");
    assert.match(above, /\* raising the downtime limit from 30 to 60 ms/, "a line that came mid-transfer is above the bar");
    assert.match(above, /\* memory transfer complete: precopy/);
    assert.doesNotMatch(screens.at(-1)!, /progress: /, "progress lines become the bar");
    assert.match(last.slice(barRow + 1).join("\n"), /^PRINTED$/m, "what follows the job goes below the bar");
  });
});
