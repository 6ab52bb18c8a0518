// Checks on values that arrive from the master and end up in file names, paths or
// environments: they must never let a caller escape the agent's directories.

import { resolve, sep } from "node:path";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;

export function argError(message: string): AgentError {
  return new AgentError(AGENT_ERRORS.argument, message);
}

/** An instance, OS, provider or volume name: host-name-like, no slashes, not "." or "..". */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== "string" || !NAME.test(value) || value.includes("..")) {
    throw argError(`Invalid ${what} ${JSON.stringify(value)}: expected letters, digits, '.', '_', '+' or '-'`);
  }
  return value;
}

export function checkString(value: unknown, what: string): string {
  if (typeof value !== "string") throw argError(`${what} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

export function checkInt(value: unknown, what: string, min = 0): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw argError(`${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkNumber(value: unknown, what: string, min = 0): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw argError(`${what} must be a number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw argError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

/** `path` resolved, and strictly inside `dir` (not `dir` itself). */
export function checkInside(dir: string, path: unknown, what: string): string {
  if (typeof path !== "string" || path === "" || path.includes("\0")) throw argError(`Invalid ${what} ${JSON.stringify(path)}`);
  const root = resolve(dir);
  const full = resolve(root, path);
  if (!full.startsWith(root + sep)) {
    throw argError(`${what} ${path} is outside the allowed directory ${root}`);
  }
  return full;
}
