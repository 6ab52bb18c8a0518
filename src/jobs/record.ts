// A job's stored form, and the size rule every store applies to it (SQLite's and etcd's job
// stores both write jobRow's string). etcd refuses a request over 1.5 MiB (ETCD-FACTS §3.6), and
// a refused write ends the master's term: one chatty job (a long log, a big result) would take
// leadership down on every master in turn. So a record stays under JOB_RECORD_MAX_BYTES:
// - each opcode's log keeps its first entries and as many of its last as fit LOG_MAX_BYTES, with
//   one entry in between saying how many were dropped (a Ganeti log entry: [serial, timestamp,
//   "message", text], serials still increasing, so oplog and job-change polls stay well-formed);
//   one entry's text is cut at LOG_ENTRY_MAX_CHARS (only once the log is trimmed: a job with a
//   short log is stored exactly as it is);
// - an opcode's result over RESULT_MAX_BYTES fails the opcode (the executor checks it when the
//   opcode ends: resultTooLarge), so the job ends in `error` saying so;
// - should a record still be too large (or not serialize at all), its opcodes keep only their
//   OP_ID and its results are dropped, each opcode not yet ended failing with the reason.
// The log is trimmed in memory too (the job object itself): what RAPI shows on the leader is
// what a standby and the next leader read.

import { ECODE } from "../model/errors.ts";
import { FINALIZED, type Job, type LogEntry, type QueuedOpcode } from "../model/job.ts";

/** A stored job at most, in UTF-8 bytes: under the etcd txn budget (client.ts MAX_TXN_BYTES, 1 MiB) with room for others' writes. */
export const JOB_RECORD_MAX_BYTES = 512 * 1024;
/** An opcode's result at most, as JSON. */
export const RESULT_MAX_BYTES = 256 * 1024;
/**
 * An opcode's log at most, as JSON; once over, it is trimmed to half of it. Every log entry
 * rewrites the job's record (etcd keeps each version until compaction), so a log is kept
 * small: a record of 512 KiB rewritten per entry cost 7.5 s and 160 MB of etcd writes for 320 entries.
 */
const LOG_MAX_BYTES = 128 * 1024;
/** The first entries of a trimmed log kept (they say what the opcode set out to do): a count, so the note stays where it is. */
const LOG_HEAD_ENTRIES = 10;
/** One log entry's text at most (the head's ten then take at most about 40 KiB, 120 KiB in multi-byte characters). */
const LOG_ENTRY_MAX_CHARS = 4096;

/** UTF-8 bytes of `text`, counted only when its length does not already settle it. */
function fits(text: string, maxBytes: number): boolean {
  return text.length * 3 <= maxBytes || (text.length <= maxBytes && Buffer.byteLength(text) <= maxBytes);
}

/**
 * The stored form of a job, within JOB_RECORD_MAX_BYTES. Trimming and failing change the job
 * in memory too. Input that passed validation always serializes (bodies are depth-limited JSON);
 * should one still fail, that job alone fails instead of the batch it is in.
 */
export function jobRow(job: Job): string {
  let row: string;
  try {
    row = JSON.stringify(job);
  } catch (err) {
    return reduced(job, `The job could not be stored: ${err instanceof Error ? err.message : String(err)}`);
  }
  // A record this small holds no log over LOG_MAX_BYTES (nor is over the limit).
  if (row.length * 3 <= LOG_MAX_BYTES) return row;
  if (job.ops.map(trimLog).includes(true)) row = JSON.stringify(job);
  if (fits(row, JOB_RECORD_MAX_BYTES)) return row;
  return reduced(job, `The job's record (${Buffer.byteLength(row)} bytes) is larger than a stored job may be (${JOB_RECORD_MAX_BYTES} bytes): its parameters and results were dropped`);
}

/** Why an opcode's result cannot be stored (too large), or undefined when it can. */
export function resultTooLarge(result: unknown): string | undefined {
  let text: string | undefined;
  try {
    text = JSON.stringify(result);
  } catch {
    return undefined; // jobRow says why it does not serialize
  }
  if (text === undefined || fits(text, RESULT_MAX_BYTES)) return undefined;
  return `The opcode ran, but its result (${Buffer.byteLength(text)} bytes) is larger than a stored job keeps (${RESULT_MAX_BYTES} bytes) and was dropped`;
}

/** When the log is over LOG_MAX_BYTES: cuts long entries and drops entries between its head and its tail. Says whether it did. */
function trimLog(op: QueuedOpcode): boolean {
  const log = op.log;
  const size = (entry: LogEntry) => Buffer.byteLength(JSON.stringify(entry)) + 1;
  if (log.reduce((total, entry) => total + size(entry), 0) <= LOG_MAX_BYTES) return false;
  for (let i = 0; i < log.length; i++) log[i] = cutEntry(log[i]);
  const sizes = log.map(size);
  if (sizes.reduce((a, b) => a + b, 0) <= LOG_MAX_BYTES) return true;
  // The head: its first entries; the tail: the newest ones that fit half the budget with the
  // head and the note (the next trim comes after a quarter of the budget was logged, or more).
  const head = Math.min(LOG_HEAD_ENTRIES, log.length - 1);
  let used = sizes.slice(0, head).reduce((a, b) => a + b, 0) + 512;
  const keep = Math.max(LOG_MAX_BYTES / 2, used + LOG_MAX_BYTES / 4);
  let tail = log.length;
  while (tail - 1 > head && used + sizes[tail - 1] <= keep) used += sizes[--tail];
  const lastDropped = log[tail - 1];
  // Within an opcode's log serials count up by one (executor.ts), a former marker's span included.
  const dropped = (log[tail]?.[0] ?? lastDropped[0] + 1) - (log[head - 1]?.[0] ?? log[head][0] - 1) - 1;
  const note: LogEntry = [
    lastDropped[0],
    lastDropped[1],
    "message",
    `[${dropped} log entries dropped here: a stored job keeps its opcode's first and last log entries, ${LOG_MAX_BYTES} bytes of them]`,
  ];
  log.splice(head, tail - head, note);
  return true;
}

function cutEntry(entry: LogEntry): LogEntry {
  const [serial, ts, type, message] = entry;
  if (typeof message === "string") {
    if (message.length <= LOG_ENTRY_MAX_CHARS) return entry;
    return [serial, ts, type, `${message.slice(0, LOG_ENTRY_MAX_CHARS)} [${message.length - LOG_ENTRY_MAX_CHARS} characters cut]`];
  }
  const size = JSON.stringify(message)?.length ?? 0;
  return size <= LOG_ENTRY_MAX_CHARS ? entry : [serial, ts, "message", `[a ${type} entry of ${size} characters, too large to keep]`];
}

/**
 * The last resort: opcodes keep only their OP_ID (other parameters at their defaults), results
 * and logs are dropped, and unfinished opcodes end in error saying why.
 */
function reduced(job: Job, why: string): string {
  for (const op of job.ops) {
    op.input = { OP_ID: op.input.OP_ID, dry_run: false, debug_level: 0, priority: op.priority, depends: null, comment: null, reason: [] };
    op.log = [];
    if (!FINALIZED.has(op.status)) {
      op.status = "error";
      op.result = ["OpExecError", [why, ECODE.fault]];
    } else if (op.status === "success") op.result = null;
  }
  return JSON.stringify(job);
}
