// A small client for QEMU's monitor protocol (QMP) on a unix socket, as QEMU-FACTS §7 describes
// it: QEMU greets with one line, waits for `qmp_capabilities`, then answers commands and sends
// events, one JSON object per line ("\r\n").
//
// Shape:
// - One client object per VM, one connection at a time. QEMU serves one client per socket (a
//   second one gets no greeting until the first leaves), so the driver keeps this connection for
//   the VM's life, fans events out from it, and `close()` destroys the socket at once.
// - Commands are written as they are issued; with OOB off QEMU runs them in arrival order, so the
//   socket is the queue. Each carries an `id` and its reply is matched by id, because events
//   interleave freely (POWERDOWN comes before the `system_powerdown` reply). Each has a deadline
//   counted from the call: a hung monitor fails the caller and never holds later commands back;
//   a reply that comes after its deadline is dropped.
// - Events are emitted under their own name (typed in QmpEventMap for the ones Corral uses) and
//   all of them also as "event"; `timestampMs` is QEMU's own emission time, not the read time.
// - "closed" fires once per negotiated connection (EOF, reset, or close(), told apart by
//   `byClient`); pending commands reject with QmpClosedError. Reconnection is `open()` again on
//   the same object, whose listeners stay. The client never reconnects by itself: only the
//   driver knows the QEMU pid and can check it is alive; a SIGKILLed QEMU leaves a socket that
//   refuses forever, which `open()` ends at its deadline with a QmpConnectError.
// - Numbers are JS numbers: 64-bit counters (bytes transferred, disk sizes) are exact up to
//   2^53 (8 PiB), which is enough for Corral.

import { EventEmitter } from "node:events";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface QmpOptions {
  /** How long open() may take: retries while the socket is missing or refuses, greeting, negotiation. */
  connectTimeoutMs?: number;
  /** Default deadline of each command. */
  commandTimeoutMs?: number;
}

export interface QmpVersion {
  major: number;
  minor: number;
  micro: number;
  /** The distribution's build, e.g. "Debian 1:7.2+dfsg-7+deb12u18". */
  package: string;
}

/** QEMU's ShutdownCause; open-ended so that newer QEMUs' causes still type. */
export type QmpShutdownCause = "guest-shutdown" | "guest-reset" | "guest-panic" | "host-qmp-quit" | "host-qmp-system-reset" | "host-signal" | "host-ui" | "host-error" | "subsystem-reset" | "none" | (string & {});
export type QmpMigrationStatus = "none" | "setup" | "active" | "postcopy-active" | "postcopy-paused" | "postcopy-recover" | "completed" | "cancelling" | "cancelled" | "failed" | "pre-switchover" | "device" | "wait-unplug" | (string & {});
interface BlockJobInfo { type: string; device: string; len: number; offset: number; speed: number }

/** The data of the events Corral reacts to, as QEMU's schema defines them. */
export interface QmpEventMap {
  STOP: Record<string, never>;
  RESUME: Record<string, never>;
  POWERDOWN: Record<string, never>;
  SHUTDOWN: { guest: boolean; reason: QmpShutdownCause };
  RESET: { guest: boolean; reason: QmpShutdownCause };
  SUSPEND: Record<string, never>;
  WAKEUP: Record<string, never>;
  GUEST_PANICKED: { action: string; info?: Record<string, unknown> };
  /** Sent only after `migrate-set-capabilities` turned `events` on. */
  MIGRATION: { status: QmpMigrationStatus };
  MIGRATION_PASS: { pass: number };
  BLOCK_JOB_COMPLETED: BlockJobInfo & { error?: string };
  BLOCK_JOB_CANCELLED: BlockJobInfo;
  BLOCK_JOB_READY: BlockJobInfo;
  BLOCK_JOB_ERROR: { device: string; operation: "read" | "write"; action: "ignore" | "report" | "stop" };
  BLOCK_IO_ERROR: { device: string; "node-name"?: string; operation: "read" | "write"; action: string; nospace?: boolean; reason: string };
  JOB_STATUS_CHANGE: { id: string; status: string };
  DEVICE_DELETED: { device?: string; path: string };
  BALLOON_CHANGE: { actual: number };
}

export interface QmpEvent<Data = Record<string, unknown>> {
  name: string;
  data: Data;
  /** When QEMU emitted it, in ms since the epoch. */
  timestampMs: number;
}

type ClientEvents = { [Name in keyof QmpEventMap]: [QmpEvent<QmpEventMap[Name]>] } & {
  /** Every event, known or not. */
  event: [QmpEvent];
  /** Once per connection that open() completed. */
  closed: [QmpClosedError];
  /** A line that is not JSON or not a QMP message; the connection goes on. */
  protocolError: [QmpProtocolError];
};

export class QmpError extends Error {
  override name = "QmpError";
}
/** open() could not reach a monitor that greets within its deadline. */
export class QmpConnectError extends QmpError {
  override name = "QmpConnectError";
}
export class QmpTimeoutError extends QmpError {
  override name = "QmpTimeoutError";
  readonly command: string;
  readonly timeoutMs: number;
  constructor(command: string, timeoutMs: number) {
    super(`QMP command ${command} got no answer within ${timeoutMs} ms`);
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}
export class QmpCommandError extends QmpError {
  override name = "QmpCommandError";
  readonly command: string;
  /** QEMU's error class, e.g. "CommandNotFound", "GenericError", "DeviceNotFound". */
  readonly class: string;
  readonly desc: string;
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP command ${command} failed: ${errorClass}: ${desc}`);
    this.command = command;
    this.class = errorClass;
    this.desc = desc;
  }
}
export class QmpClosedError extends QmpError {
  override name = "QmpClosedError";
  readonly reason: string;
  /** close() ended the connection, so nothing is wrong with QEMU. */
  readonly byClient: boolean;
  /** The command that was pending, if any. */
  readonly command: string | undefined;
  constructor(reason: string, byClient: boolean, command?: string) {
    super(command ? `QMP command ${command} failed: connection closed (${reason})` : `QMP connection closed (${reason})`);
    this.reason = reason;
    this.byClient = byClient;
    this.command = command;
  }
}
export class QmpProtocolError extends QmpError {
  override name = "QmpProtocolError";
  readonly line: string;
  constructor(message: string, line: string) {
    super(`${message}: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`);
    this.line = line;
  }
}

interface PendingCommand {
  command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const RETRY_CONNECT_MS = 10;

export class QmpClient extends EventEmitter<ClientEvents> {
  readonly socketPath: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  private socket: Socket | null = null;
  private ready = false;
  private closedBy: { reason: string; byClient: boolean } | null = null;
  private partialLine: string[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, PendingCommand>();
  /** Ids whose caller gave up; their late replies are dropped without a report. */
  private readonly abandoned = new Set<number>();
  private greetingWaiter: { resolve(greeting: Json): void; reject(error: Error): void } | null = null;
  private opening = false;
  /** close() was called while open() ran: open() gives up instead of taking a socket later. */
  private openCancelled = false;
  private qemuVersion: QmpVersion | null = null;

  constructor(socketPath: string, options: QmpOptions = {}) {
    super();
    this.socketPath = socketPath;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
  }

  /** A client connected and negotiated; attach listeners to a `new QmpClient` first to miss nothing. */
  static async connect(socketPath: string, options: QmpOptions = {}): Promise<QmpClient> {
    const client = new QmpClient(socketPath, options);
    await client.open();
    return client;
  }

  /** The QEMU version from the last greeting. */
  get version(): QmpVersion {
    if (!this.qemuVersion) throw new QmpError("QMP: not connected yet");
    return this.qemuVersion;
  }

  get connected(): boolean {
    return this.ready;
  }

  /**
   * Connects (or connects again after "closed"), reads the greeting and negotiates, all within
   * connectTimeoutMs. A missing or refusing socket is retried: QEMU creates it some 30 ms after
   * spawn, but after SIGKILL it refuses forever, which the deadline ends. A connection that is
   * reset before the greeting (a QEMU dying as we connect) is retried too.
   */
  async open(): Promise<void> {
    if (this.socket || this.opening) throw new QmpError(`QMP: ${this.socketPath} is already open`);
    const deadline = Date.now() + this.connectTimeoutMs;
    this.opening = true;
    this.openCancelled = false;
    try {
      for (;;) {
        const greeting = await this.greet(await this.connectSocket(deadline), deadline).catch(async (error: unknown) => {
          this.disconnect();
          if (!(error instanceof QmpClosedError) || error.byClient || Date.now() + RETRY_CONNECT_MS > deadline) throw error;
          await sleep(RETRY_CONNECT_MS);
        });
        if (!greeting) continue;
        // The trust boundary: QEMU greets with {"QMP": {"version": {"qemu": {major…}, "package"}}}.
        const version = (greeting.QMP as { version?: { qemu?: Partial<QmpVersion>; package?: string } }).version;
        this.qemuVersion = { major: version?.qemu?.major ?? 0, minor: version?.qemu?.minor ?? 0, micro: version?.qemu?.micro ?? 0, package: version?.package ?? "" };
        await this.send("qmp_capabilities", undefined, Math.max(1, deadline - Date.now()));
        this.ready = true;
        return;
      }
    } catch (error) {
      this.disconnect();
      if (error instanceof QmpConnectError || !(error instanceof QmpError)) throw error;
      throw new QmpConnectError(`QMP: negotiation on ${this.socketPath} failed: ${error.message}`);
    } finally {
      this.opening = false;
    }
  }

  /** Takes the socket as this client's connection and waits for the greeting. */
  private greet(socket: Socket, deadline: number): Promise<Json> {
    this.socket = socket;
    this.closedBy = null;
    this.partialLine = [];
    socket.setEncoding("utf8"); // decodes characters split across chunks
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", (error) => (this.closedBy ??= { reason: error.message, byClient: false }));
    socket.on("close", () => this.connectionClosed(socket));
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new QmpConnectError(`QMP: connected to ${this.socketPath} but no greeting within ${this.connectTimeoutMs} ms (does another client hold the monitor?)`));
      }, Math.max(1, deadline - Date.now()));
      const settle = () => {
        clearTimeout(timer);
        this.greetingWaiter = null;
      };
      this.greetingWaiter = {
        resolve: (greeting) => (settle(), resolve(greeting)),
        reject: (error) => (settle(), reject(error)),
      };
    });
  }

  /** Runs one command; rejects with QmpCommandError, QmpTimeoutError or QmpClosedError. */
  execute<T = unknown>(command: string, args?: Json, options: { timeoutMs?: number } = {}): Promise<T> {
    if (!this.ready) return Promise.reject(new QmpClosedError(this.closedBy?.reason ?? "not connected", this.closedBy?.byClient ?? false, command));
    return this.send(command, args, options.timeoutMs ?? this.commandTimeoutMs) as Promise<T>;
  }

  private send(command: string, args: Json | undefined, timeoutMs: number): Promise<unknown> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new QmpClosedError("not connected", false, command));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.abandoned.add(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\r\n`);
    });
  }

  /** Destroys the connection now (a leaked one would block every later client); "closed" fires before it returns. */
  close(): void {
    // A retrying open() must not connect later: the path may by then be another QEMU's monitor.
    if (this.opening) this.openCancelled = true;
    this.disconnect();
  }

  private disconnect(): void {
    const socket = this.socket;
    if (!socket) return;
    this.closedBy ??= { reason: "closed by this client", byClient: true };
    socket.destroy();
    this.connectionClosed(socket); // now, so that open() may follow at once
  }

  private async connectSocket(deadline: number): Promise<Socket> {
    for (;;) {
      if (this.openCancelled) throw new QmpConnectError(`QMP: connecting to ${this.socketPath} given up: closed by this client`);
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const socket = connect(this.socketPath);
          socket.once("connect", () => {
            socket.off("error", reject);
            resolve(socket);
          });
          socket.once("error", reject);
        });
        if (!this.openCancelled) return socket;
        socket.destroy();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const retryable = code === "ENOENT" || code === "ECONNREFUSED";
        if (!retryable || Date.now() + RETRY_CONNECT_MS > deadline) {
          const hint = code === "ECONNREFUSED" ? " (a stale socket: is QEMU still running?)" : code === "ENOENT" ? " (no such socket: QEMU not started?)" : "";
          throw new QmpConnectError(`QMP: cannot connect to ${this.socketPath}${retryable ? ` within ${this.connectTimeoutMs} ms` : ""}: ${code ?? (error as Error).message}${hint}`);
        }
        await sleep(RETRY_CONNECT_MS);
      }
    }
  }

  private receive(chunk: string): void {
    // Pieces of an unfinished line are kept apart and joined once: re-scanning a growing string
    // made a 2 MB reply in 64 KB chunks take 0.4–0.6 s instead of 20–50 ms.
    let from = 0;
    for (let end = chunk.indexOf("\n"); end !== -1; end = chunk.indexOf("\n", from)) {
      this.partialLine.push(chunk.slice(from, end));
      const line = this.partialLine.join("").trim();
      this.partialLine = [];
      if (line !== "") this.handleLine(line);
      from = end + 1;
    }
    if (from < chunk.length) this.partialLine.push(chunk.slice(from));
  }

  private handleLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.emit("protocolError", new QmpProtocolError("QMP: a line that is not JSON", line));
      return;
    }
    if (!isObject(message)) this.emit("protocolError", new QmpProtocolError("QMP: not a JSON object", line));
    else if (typeof message.event === "string") this.handleEvent(message);
    else if ("return" in message || "error" in message) this.handleReply(message, line);
    else if (isObject(message.QMP) && this.greetingWaiter) this.greetingWaiter.resolve(message);
    else this.emit("protocolError", new QmpProtocolError("QMP: unexpected message", line));
  }

  private handleEvent(message: Json): void {
    const stamp = isObject(message.timestamp) ? message.timestamp : {};
    const seconds = typeof stamp.seconds === "number" ? stamp.seconds : Date.now() / 1000;
    const micros = typeof stamp.microseconds === "number" ? stamp.microseconds : 0;
    const event: QmpEvent = { name: message.event as string, data: isObject(message.data) ? message.data : {}, timestampMs: seconds * 1000 + micros / 1000 };
    // QEMU's event names are upper case, so they cannot collide with "closed" and the others.
    if (/^[A-Z0-9_]+$/.test(event.name)) this.emit(event.name as keyof QmpEventMap, event as QmpEvent<never>);
    this.emit("event", event);
  }

  private handleReply(message: Json, line: string): void {
    const id = typeof message.id === "number" ? message.id : -1;
    const pending = this.pending.get(id);
    if (!pending) {
      if (!this.abandoned.delete(id)) this.emit("protocolError", new QmpProtocolError("QMP: a reply to no pending command", line));
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const error = isObject(message.error) ? message.error : null;
    if (error) pending.reject(new QmpCommandError(pending.command, String(error.class), String(error.desc)));
    else pending.resolve(message.return);
  }

  private connectionClosed(socket: Socket): void {
    if (this.socket !== socket) return;
    const { reason, byClient } = this.closedBy ?? { reason: "QEMU closed the monitor (EOF)", byClient: false };
    this.closedBy = { reason, byClient };
    const wasReady = this.ready;
    this.socket = null;
    this.ready = false;
    const failed = [...this.pending.values()];
    this.pending.clear();
    this.abandoned.clear();
    this.greetingWaiter?.reject(new QmpClosedError(`before the greeting: ${reason}`, byClient));
    for (const command of failed) {
      clearTimeout(command.timer);
      command.reject(new QmpClosedError(reason, byClient, command.command));
    }
    if (wasReady) this.emit("closed", new QmpClosedError(reason, byClient));
  }
}
