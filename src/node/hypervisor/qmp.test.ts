import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { requireTools } from "../../../test/support/tools.ts";
import { tempDir } from "../testkit.ts";
import { QmpClient, QmpClosedError, QmpCommandError, QmpConnectError, type QmpEvent, type QmpProtocolError, QmpTimeoutError } from "./qmp.ts";

const qemu = requireTools({ tools: ["qemu-system-x86_64"] });

interface Qemu {
  process: ChildProcess;
  pid: number;
  socketPath: string;
}

/** A QEMU child of this test with a QMP socket and no guest; killed after the test if still there. */
async function startQemu(t: TestContext, machine: "none" | "pc"): Promise<Qemu> {
  const socketPath = join(await tempDir(t, "corral-qmp-"), "qmp.sock");
  const args = ["-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none", "-m", "64", "-S", "-qmp", `unix:${socketPath},server=on,wait=off`];
  const child = spawn(qemu.path("qemu-system-x86_64"), args, { stdio: ["ignore", "ignore", "inherit"] });
  assert.ok(child.pid, "qemu-system-x86_64 did not start");
  const started: Qemu = { process: child, pid: child.pid, socketPath };
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signal(started, "SIGKILL"); // a stopped process dies of SIGKILL too
    await once(child, "exit");
  });
  return started;
}

/** Signals only the QEMU this test started: the pid must still be that process. */
function signal(started: Qemu, name: NodeJS.Signals): void {
  const cmdline = readFileSync(`/proc/${started.pid}/cmdline`, "utf8").split("\0");
  assert.ok(cmdline[0].endsWith("qemu-system-x86_64") && cmdline.some((arg) => arg.includes(started.socketPath)), `pid ${started.pid} is not our QEMU`);
  process.kill(started.pid, name);
}

async function connectTo(t: TestContext, started: Qemu, options = {}): Promise<QmpClient> {
  const client = await QmpClient.connect(started.socketPath, { connectTimeoutMs: 5_000, ...options });
  t.after(() => client.close());
  return client;
}

/** The next event of that name, through the generic "event" fan-out. */
const nextEvent = (client: QmpClient, name: string) =>
  new Promise<QmpEvent>((resolve) => {
    const listener = (event: QmpEvent) => {
      if (event.name !== name) return;
      client.off("event", listener);
      resolve(event);
    };
    client.on("event", listener);
  });

qemu.describe("QMP client against a real QEMU", () => {
  test("connects as soon as the socket appears, reports the version, negotiates and answers", async (t) => {
    const started = await startQemu(t, "none"); // the socket does not exist yet: connect retries
    const client = await connectTo(t, started);
    assert.ok(client.version.major >= 7, JSON.stringify(client.version));
    assert.match(client.version.package, /Debian/);
    assert.deepEqual(await client.execute("query-status"), { status: "prelaunch", singlestep: false, running: false });
    const commands = await client.execute<{ name: string }[]>("query-commands"); // a 6.5 KB reply
    assert.ok(commands.some((c) => c.name === "block_resize") && commands.length > 100);
    await assert.rejects(client.execute("no-such-command"), (error: unknown) => {
      assert.ok(error instanceof QmpCommandError);
      assert.equal(error.class, "CommandNotFound");
      assert.equal(error.command, "no-such-command");
      assert.match(error.desc, /no-such-command/);
      return true;
    });
  });

  test("concurrent commands are matched by id, failures among them", async (t) => {
    const client = await connectTo(t, await startQemu(t, "none"));
    const names = Array.from({ length: 30 }, (_, i) => ["query-status", "query-version", "query-name", "bogus"][i % 4]);
    const results = await Promise.allSettled(names.map((name) => client.execute<Record<string, unknown>>(name)));
    results.forEach((result, i) => {
      if (names[i] === "bogus") assert.ok(result.status === "rejected" && result.reason instanceof QmpCommandError && result.reason.command === "bogus");
      else assert.ok(result.status === "fulfilled", `${names[i]} failed`);
      if (names[i] === "query-status") assert.equal((result as PromiseFulfilledResult<Record<string, unknown>>).value.status, "prelaunch");
      if (names[i] === "query-version") assert.ok("qemu" in (result as PromiseFulfilledResult<Record<string, unknown>>).value);
      if (names[i] === "query-name") assert.deepEqual((result as PromiseFulfilledResult<Record<string, unknown>>).value, {});
    });
  });

  test("cont and stop give RESUME and STOP with QEMU's own timestamps", async (t) => {
    const client = await connectTo(t, await startQemu(t, "pc"));
    const before = Date.now();
    const resumed = nextEvent(client, "RESUME");
    await client.execute("cont");
    const resume = await resumed;
    assert.equal((await client.execute<{ status: string }>("query-status")).status, "running");
    const stopped = nextEvent(client, "STOP");
    await client.execute("stop");
    const stop = await stopped;
    assert.equal((await client.execute<{ status: string }>("query-status")).status, "paused");
    assert.ok(before - 1_000 <= resume.timestampMs && resume.timestampMs <= stop.timestampMs && stop.timestampMs <= Date.now() + 1_000);
  });

  test("quit: SHUTDOWN host-qmp-quit, then closed once; later commands are refused as closed", async (t) => {
    const started = await startQemu(t, "none");
    const client = await connectTo(t, started);
    const closed: QmpClosedError[] = [];
    client.on("closed", (error) => closed.push(error));
    const shutdown = nextEvent(client, "SHUTDOWN");
    await client.execute("quit");
    assert.deepEqual((await shutdown).data, { guest: false, reason: "host-qmp-quit" });
    await once(started.process, "exit");
    await sleep(50);
    assert.equal(closed.length, 1);
    assert.equal(closed[0].byClient, false);
    assert.equal(client.connected, false);
    await assert.rejects(client.execute("query-status"), QmpClosedError);
  });

  test("a frozen QEMU (SIGSTOP): commands fail at their deadline; after SIGCONT the client works", async (t) => {
    const started = await startQemu(t, "none");
    const client = await connectTo(t, started, { commandTimeoutMs: 300 });
    const reports: QmpProtocolError[] = [];
    client.on("protocolError", (error) => reports.push(error));
    signal(started, "SIGSTOP");
    const began = Date.now();
    const outcomes = await Promise.allSettled([client.execute("query-status"), client.execute("query-name", undefined, { timeoutMs: 600 })]);
    const elapsed = Date.now() - began;
    assert.ok(outcomes[0].status === "rejected" && outcomes[0].reason instanceof QmpTimeoutError);
    assert.equal(outcomes[0].reason.command, "query-status");
    assert.match(String(outcomes[0].reason.message), /query-status got no answer within 300 ms/);
    assert.ok(outcomes[1].status === "rejected" && outcomes[1].reason instanceof QmpTimeoutError && outcomes[1].reason.timeoutMs === 600);
    assert.ok(elapsed >= 590 && elapsed < 2_500, `took ${elapsed} ms`);
    signal(started, "SIGCONT");
    // QEMU answers the abandoned two first; those replies are dropped and this one gets its own.
    assert.deepEqual(await client.execute("query-status"), { status: "prelaunch", singlestep: false, running: false });
    assert.deepEqual(reports, []);
  });

  test("SIGKILL: closed fires at once, pending commands fail, the stale socket fails open() at its deadline", async (t) => {
    const started = await startQemu(t, "none");
    const client = await connectTo(t, started, { connectTimeoutMs: 400 });
    signal(started, "SIGSTOP"); // so that a command is surely pending when QEMU dies
    const pending = client.execute("query-status");
    pending.catch(() => {});
    const closed = once(client, "closed") as Promise<[QmpClosedError]>;
    const killedAt = Date.now();
    signal(started, "SIGKILL");
    const [closedError] = await closed;
    const noticedMs = Date.now() - killedAt;
    assert.ok(noticedMs < 1_000, `closed after ${noticedMs} ms`);
    assert.equal(closedError.byClient, false);
    await assert.rejects(pending, (error: unknown) => error instanceof QmpClosedError && error.command === "query-status");
    for (const attempt of [() => client.open(), () => QmpClient.connect(started.socketPath, { connectTimeoutMs: 400 })]) {
      const began = Date.now();
      await assert.rejects(attempt(), (error: unknown) => error instanceof QmpConnectError && /ECONNREFUSED.*stale socket/.test(error.message));
      const took = Date.now() - began;
      assert.ok(took >= 390 && took < 2_000, `gave up after ${took} ms`);
    }
  });

  test("one client per socket: a second one gets no greeting; the first reconnects after close() and keeps its listeners", async (t) => {
    const started = await startQemu(t, "pc");
    const client = await connectTo(t, started);
    const events: string[] = [];
    client.on("event", (event) => events.push(event.name));
    await assert.rejects(QmpClient.connect(started.socketPath, { connectTimeoutMs: 300 }), /no greeting within 300 ms/);
    const closed: QmpClosedError[] = [];
    client.on("closed", (error) => closed.push(error));
    client.close();
    assert.equal(closed.length, 1);
    assert.equal(closed[0].byClient, true);
    await client.open();
    const resumed = nextEvent(client, "RESUME");
    await client.execute("cont");
    await resumed;
    assert.deepEqual(events, ["RESUME"]);
  });
});

// A stand-in monitor for framing cases QEMU will not produce on demand.
const GREETING = `{"QMP": {"version": {"qemu": {"micro": 1, "minor": 2, "major": 7}, "package": "stand-in"}, "capabilities": ["oob"]}}\r\n`;
const event = (name: string, data: object = {}) => `{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "${name}", "data": ${JSON.stringify(data)}}\r\n`;
const reply = (id: unknown, value: unknown) => `${JSON.stringify({ return: value, id })}\r\n`;

interface Monitor {
  /** Writes raw bytes as one chunk, then lets them reach the client before the next write. */
  write(raw: string | Buffer): Promise<void>;
  /** The next command the client sent. */
  command(): Promise<{ execute: string; id: unknown }>;
  end(): void;
}

async function standIn(t: TestContext, serve: (monitor: Monitor) => Promise<void>): Promise<string> {
  const socketPath = join(await tempDir(t, "corral-qmp-"), "qmp.sock");
  const server = createServer((socket: Socket) => {
    const lines: string[] = [];
    let buffered = "";
    let wake: (() => void) | null = null;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      const parts = (buffered + chunk).split("\n");
      buffered = parts.pop() ?? "";
      lines.push(...parts);
      wake?.();
    });
    const monitor: Monitor = {
      write: async (raw) => {
        socket.write(raw);
        await sleep(5);
      },
      command: async () => {
        while (lines.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return JSON.parse(lines.shift() ?? "") as { execute: string; id: unknown };
      },
      end: () => socket.end(),
    };
    serve(monitor).catch((error: unknown) => socket.destroy(error as Error));
  });
  server.listen(socketPath);
  await once(server, "listening");
  t.after(() => void server.close());
  return socketPath;
}

/** Answers qmp_capabilities. */
async function negotiate(monitor: Monitor): Promise<void> {
  const { execute, id } = await monitor.command();
  assert.equal(execute, "qmp_capabilities");
  await monitor.write(reply(id, {}));
}

test("stand-in: an event before a greeting split across chunks; both reach a client set up before open()", async (t) => {
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(event("RESUME"));
    for (let at = 0; at < GREETING.length; at += 7) await monitor.write(GREETING.slice(at, at + 7));
    await negotiate(monitor);
  });
  const client = new QmpClient(socketPath, { connectTimeoutMs: 3_000 });
  const events: QmpEvent[] = [];
  client.on("event", (e) => events.push(e));
  await client.open();
  t.after(() => client.close());
  assert.deepEqual(client.version, { major: 7, minor: 2, micro: 1, package: "stand-in" });
  assert.deepEqual(events, [{ name: "RESUME", data: {}, timestampMs: 1700000000250 }]);
});

test("stand-in: several messages in one chunk, replies out of order, an event before its command's reply", async (t) => {
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(GREETING);
    await negotiate(monitor);
    const first = await monitor.command();
    const second = await monitor.command();
    await monitor.write(event("POWERDOWN") + reply(second.id, "second") + event("SHUTDOWN", { guest: true, reason: "guest-shutdown" }) + reply(first.id, "first"));
  });
  const client = await QmpClient.connect(socketPath);
  t.after(() => client.close());
  const seen: string[] = [];
  client.on("POWERDOWN", () => seen.push("POWERDOWN"));
  client.on("SHUTDOWN", (e) => seen.push(`SHUTDOWN guest=${e.data.guest} ${e.data.reason}`));
  const first = client.execute("system_powerdown").then((value) => seen.push(`reply ${value}`));
  const second = client.execute("query-status").then((value) => seen.push(`reply ${value}`));
  await Promise.all([first, second]);
  // Listeners run as each line is read; the replies settle their promises after the chunk.
  assert.deepEqual(seen, ["POWERDOWN", "SHUTDOWN guest=true guest-shutdown", "reply second", "reply first"]);
});

test("stand-in: a garbage line is reported and the connection goes on", async (t) => {
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(GREETING);
    await negotiate(monitor);
    const { id } = await monitor.command();
    await monitor.write(`{"return": oops\r\n[1, 2]\r\n{"return": {}, "id": "nobody's"}\r\n`);
    await monitor.write(reply(id, { status: "running" }));
  });
  const client = await QmpClient.connect(socketPath);
  t.after(() => client.close());
  const reports: string[] = [];
  client.on("protocolError", (error) => reports.push(error.message));
  assert.deepEqual(await client.execute("query-status"), { status: "running" });
  assert.equal(reports.length, 3);
  assert.match(reports[0], /not JSON: \{"return": oops/);
  assert.match(reports[1], /not a JSON object/);
  assert.match(reports[2], /a reply to no pending command/);
});

test("stand-in: a 2 MB reply in 64 KB chunks, multi-byte characters cut between them", async (t) => {
  const big = Array.from({ length: 40_000 }, (_, i) => ({ name: `ünïcode-€-${i}`, size: 2 ** 52 + i }));
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(GREETING);
    await negotiate(monitor);
    const { id } = await monitor.command();
    const bytes = Buffer.from(reply(id, big));
    assert.ok(bytes.length > 2_000_000);
    for (let at = 0; at < bytes.length; at += 65_537) await monitor.write(bytes.subarray(at, at + 65_537));
  });
  const client = await QmpClient.connect(socketPath);
  t.after(() => client.close());
  assert.deepEqual(await client.execute("query-block"), big);
});

test("stand-in: EOF fails pending commands as closed and fires closed once", async (t) => {
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(GREETING);
    await negotiate(monitor);
    await monitor.command();
    monitor.end();
  });
  const client = await QmpClient.connect(socketPath);
  const closed: QmpClosedError[] = [];
  client.on("closed", (error) => closed.push(error));
  await assert.rejects(client.execute("query-status"), (error: unknown) => error instanceof QmpClosedError && error.command === "query-status" && /EOF/.test(error.message));
  client.close();
  assert.equal(closed.length, 1);
  assert.equal(closed[0].byClient, false);
});

test("stand-in: a monitor that greets but never answers qmp_capabilities fails open() at its deadline", async (t) => {
  const socketPath = await standIn(t, async (monitor) => {
    await monitor.write(GREETING);
    await monitor.command();
  });
  const began = Date.now();
  await assert.rejects(QmpClient.connect(socketPath, { connectTimeoutMs: 300 }), (error: unknown) => error instanceof QmpConnectError && /negotiation .* qmp_capabilities got no answer/.test(error.message));
  assert.ok(Date.now() - began < 2_000);
});

test("stand-in: close() during an open() that waits for the socket ends it; a monitor appearing later at the path is left alone", async (t) => {
  // The kvm driver closes the client of a QEMU that exited; the path may next be a new QEMU's,
  // whose one monitor connection must go to that QEMU's own client.
  const socketPath = join(await tempDir(t, "corral-qmp-"), "qmp.sock");
  const client = new QmpClient(socketPath, { connectTimeoutMs: 3_000 });
  const opened = client.open();
  await sleep(150);
  client.close();
  let connections = 0;
  const server = createServer((socket: Socket) => {
    connections++;
    socket.write(GREETING);
  });
  server.listen(socketPath);
  await once(server, "listening");
  t.after(() => void server.close());
  await assert.rejects(opened, (error: unknown) => error instanceof QmpConnectError && /given up: closed by this client/.test(error.message));
  await sleep(300);
  assert.equal(connections, 0);
  assert.equal(client.connected, false);
});
