// The master's log: JSON lines through pino (level, time, msg and the fields a call site
// gives), with secrets kept out twice over — pino's redact for fields named like secrets,
// and a scrub of every message and field text for the secret values the master knows
// (users' passwords, secret OS parameters of submitted jobs) and for credentials' shapes.

import { pino, type DestinationStream } from "pino";
import type { Job } from "../model/job.ts";
import type { JobFollower } from "../jobs/queue.ts";

export type LogLevel = "info" | "warn" | "error";
/** Structured fields of a log line; `level` picks the line's level (default info). */
export type LogFields = { level?: LogLevel } & Record<string, unknown>;
/**
 * How the master logs: a message, and optionally its structured fields. Call sites that have
 * only a sentence pass one argument (and a one-argument collector is a Log too); those that
 * have data pass it as fields rather than formatting it into the text.
 */
export interface Log {
  (message: string, fields?: LogFields): void;
  /**
   * Many info lines at once, each a message and one field given as JSON text already (the
   * audit trail renders a record once, for its line and its row). pino's redact does not see
   * that text, so it may hold no field named like a secret; the scrub of values still applies.
   * A Log without it gets the lines one by one.
   */
  batch?: (field: string, lines: readonly BatchLine[]) => void;
}
/** A line of Log.batch: its message, and its field's value as JSON text. */
export type BatchLine = readonly [message: string, json: string];

const CENSOR = "[REDACTED]";

/**
 * Field names that hold credentials or secret parameters, at the depths call sites use (a
 * field, a field of a field, request headers). Each wildcard level costs a walk of every
 * line: three levels made a line 4× dearer (58 µs against 9 µs).
 */
const SECRET_KEYS = ["password", "token", "authorization", "cookie", "osparams_secret", "secret", "api_key", "x-api-key", "csrf"];
const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [`["${k}"]`, `*["${k}"]`]),
  ...["authorization", "cookie", "x-api-key"].map((h) => `*.headers["${h}"]`),
];

/** pino writing JSON lines to `destination` (stderr in the daemon, a collector in tests). */
export function jsonLog(destination: DestinationStream): Log {
  const logger = pino(
    {
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
    },
    destination,
  );
  const log: Log = (message, fields) => {
    if (fields === undefined) return logger.info(message);
    const { level = "info", ...rest } = fields;
    logger[level](rest, message);
  };
  // The lines pino would write for logger.info({ [field]: value }, message), but with the
  // value's JSON made once by the caller, one timestamp and one write for the batch.
  log.batch = (field, lines) => {
    const head = `{"level":"info","time":"${new Date().toISOString()}","pid":${process.pid},${JSON.stringify(field)}:`;
    destination.write(lines.map(([message, json]) => `${head}${json},"msg":${JSON.stringify(message)}}\n`).join(""));
  };
  return log;
}

/** Audit lines wait in the buffer at most this long (one per write: a syscall each cost ~10% of the job burst). */
const FLUSH_MS = 1000;

/**
 * The daemon's log on stderr. Audit lines (fields with `audit`) are buffered up to 8 KiB or
 * FLUSH_MS; any other line goes out at once, with whatever is buffered before it, and
 * everything is flushed when the process exits.
 */
export function stderrLog(): Log {
  const stderr = pino.destination({ dest: 2, sync: false, minLength: 8 * 1024 });
  const flush = () => {
    try {
      stderr.flush();
    } catch {
      // Not open yet or stderr gone: the next flush or exit writes it.
    }
  };
  setInterval(flush, FLUSH_MS).unref();
  process.once("exit", () => {
    try {
      stderr.flushSync();
    } catch {
      // stderr is gone or full: nothing more can be said.
    }
  });
  const log = jsonLog(stderr);
  const buffered: Log = (message, fields) => {
    log(message, fields);
    if (fields?.audit === undefined) flush();
  };
  buffered.batch = log.batch;
  return buffered;
}

/** Every line to both logs (a Log without `batch` gets a batch's lines one by one). */
function tee(first: Log, second: Log): Log {
  const both: Log = (message, fields) => {
    first(message, fields);
    second(message, fields);
  };
  both.batch = (field, lines) => {
    for (const log of [first, second]) {
      if (log.batch) log.batch(field, lines);
      else for (const [message, json] of lines) log(message, { [field]: JSON.parse(json) as unknown });
    }
  };
  return both;
}

/** One copy file per process, however many masters it starts (the tests start many). */
const runCopies = new Map<string, Log>();

/**
 * `log`, and when CORRAL_TEST_LOG_DIR is set (scripts/test.sh sets it for a whole test run)
 * the same lines as JSON in <dir>/master-<pid>.jsonl, written synchronously so that a test
 * process that exits at once loses none: scripts/check-log-secrets.ts greps them all for the
 * tests' secrets after the run.
 */
export function withTestRunCopy(log: Log, dir = process.env.CORRAL_TEST_LOG_DIR): Log {
  if (!dir) return log;
  let copy = runCopies.get(dir);
  if (!copy) {
    copy = jsonLog(pino.destination({ dest: `${dir}/master-${process.pid}.jsonl`, sync: true, append: true, mkdir: true }));
    runCopies.set(dir, copy);
  }
  return tee(log, copy);
}

/** Credentials by their shape, whoever wrote them into a text. */
const CREDENTIAL_SHAPES: [RegExp, string][] = [
  [/\b(Basic|Bearer|Digest)\s+[A-Za-z0-9+/=._~-]{4,}/gi, `$1 ${CENSOR}`],
  // An API token anywhere (its id stays, to say which one): corral_<id>_<secret>.
  [/\b(corral_[a-z2-7]{12}_)[A-Za-z0-9_-]{8,}/g, `$1${CENSOR}`],
  [/\b(password|passwd|token|secret|api[_-]?key|cookie|csrf)(["']?\s*[:=]\s*["']?)[^\s"',;&}]+/gi, `$1$2${CENSOR}`],
  [/\b(corral_session|session)=[^\s;,"]+/gi, `$1=${CENSOR}`],
];

/** The bound on remembered secret values (the oldest are forgotten first). */
const MAX_SECRETS = 4096;
/** Shorter values would scrub ordinary words out of messages. */
const MIN_SECRET_LENGTH = 4;

/** Secret values the master has seen, to be scrubbed from whatever text they reach. */
export class KnownSecrets {
  private readonly values = new Set<string>();
  private readonly sources: (() => Iterable<string>)[] = [];

  add(value: string): void {
    if (value.length < MIN_SECRET_LENGTH || this.values.has(value)) return;
    if (this.values.size >= MAX_SECRETS) this.values.delete(this.values.values().next().value!);
    this.values.add(value);
  }

  /** Values read afresh at every scrub (the users file, which is reloaded when it changes). */
  addSource(source: () => Iterable<string>): void {
    this.sources.push(source);
  }

  scrub(text: string): string {
    let out = text;
    for (const [shape, replacement] of CREDENTIAL_SHAPES) out = out.replace(shape, replacement);
    for (const v of this.values) if (out.includes(v)) out = out.replaceAll(v, CENSOR);
    for (const source of this.sources) {
      for (const v of source()) if (v.length >= MIN_SECRET_LENGTH && out.includes(v)) out = out.replaceAll(v, CENSOR);
    }
    return out;
  }

  /** A copy of `value` with every string in it scrubbed (fields are small: depth 6 at most). */
  scrubValue(value: unknown, depth = 0): unknown {
    if (typeof value === "string") return this.scrub(value);
    if (typeof value !== "object" || value === null || depth > 6) return value;
    if (Array.isArray(value)) return value.map((v) => this.scrubValue(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.scrubValue(v, depth + 1)]));
  }

  /** The secret OS parameters of every submitted job (RAPI, PVC, or a job's own children). */
  jobFollower(): JobFollower {
    return {
      submitted: (job: Job) => {
        for (const op of job.ops) {
          const secret = (op.input as { osparams_secret?: unknown }).osparams_secret;
          if (typeof secret === "object" && secret !== null) {
            for (const v of Object.values(secret)) if (typeof v === "string") this.add(v);
          }
        }
      },
      changed: () => undefined,
    };
  }
}

/** `log` with every message and field text scrubbed of `secrets` first. */
export function scrubbing(log: Log, secrets: KnownSecrets): Log {
  const scrubbed: Log = (message, fields) => {
    if (fields === undefined) return log(secrets.scrub(message));
    // One pass over the fields' text; they are copied only when something in them is secret.
    const text = JSON.stringify(fields);
    log(secrets.scrub(message), secrets.scrub(text) === text ? fields : (secrets.scrubValue(fields) as LogFields));
  };
  const batch = log.batch;
  if (batch) {
    // One pass over the whole batch; a line with a secret in it has its values scrubbed one by
    // one (a scrub of JSON text could hit a number or a key, and break the line).
    scrubbed.batch = (field, lines) => {
      const text = lines.map(([message, json]) => `${message}\n${json}`).join("\n");
      if (secrets.scrub(text) === text) return batch(field, lines);
      batch(field, lines.map(([message, json]) => [secrets.scrub(message), secrets.scrub(json) === json ? json : JSON.stringify(secrets.scrubValue(JSON.parse(json)))]));
    };
  }
  return scrubbed;
}
