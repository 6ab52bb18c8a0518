// Parameter dictionaries as Ganeti checks and fills them: the value type of every known
// key (Ganeti's *_PARAMETER_TYPES), ForceDictType's checks and conversions, and FillDict.

import { DEFAULT_BEPARAMS, DEFAULT_DISKPARAMS, DEFAULT_HVPARAMS, DEFAULT_NDPARAMS } from "./defaults.ts";
import { TypeEnforcementError } from "./errors.ts";
import type { NestedParams, ParamDict } from "./objects.ts";
import { pyRepr } from "./pyrepr.ts";
import { isDict } from "./dict.ts";

/** Ganeti's VTYPE_*: what ForceDictType accepts (and converts) for a key. */
export type VType = "string" | "maybe-string" | "bool" | "size" | "int" | "float";
export type TypeTable = Readonly<Record<string, VType>>;

/** The type of each key, read off the defaults: numbers are ints, the rest as they are. */
function typesOfDefaults(dicts: Iterable<ParamDict>, overrides: TypeTable = {}): TypeTable {
  const out: Record<string, VType> = {};
  for (const d of dicts) {
    for (const [k, v] of Object.entries(d)) {
      out[k] = typeof v === "boolean" ? "bool" : typeof v === "number" ? "int" : "string";
    }
  }
  return { ...out, ...overrides };
}

export const NDS_PARAMETER_TYPES: TypeTable = {
  exclusive_storage: "bool",
  oob_program: "string",
  ovs: "bool",
  ovs_link: "maybe-string",
  ovs_name: "maybe-string",
  spindle_count: "int",
  ssh_port: "int",
  cpu_speed: "float",
};

export const BES_PARAMETER_TYPES: TypeTable = {
  always_failover: "bool",
  auto_balance: "bool",
  maxmem: "size",
  minmem: "size",
  spindle_use: "int",
  vcpus: "int",
};

export const NICS_PARAMETER_TYPES: TypeTable = { mode: "string", link: "string", vlan: "string" };

export const ISPECS_PARAMETER_TYPES: TypeTable = {
  "memory-size": "int",
  "cpu-count": "int",
  "disk-count": "int",
  "disk-size": "int",
  "nic-count": "int",
  "spindle-use": "int",
};

/** Hypervisor state (hv_state) keys, and the values a missing key takes. */
export const HVSTS_PARAMETER_TYPES: TypeTable = {
  mem_total: "int", mem_node: "int", mem_hv: "int", cpu_total: "int", cpu_node: "int",
};
export const HVST_DEFAULTS: ParamDict = { cpu_node: 1, cpu_total: 1, mem_hv: 0, mem_total: 0, mem_node: 0 };

/** Disk state (disk_state) keys, and the values a missing key takes. */
export const DSS_PARAMETER_TYPES: TypeTable = { disk_total: "int", disk_reserved: "int", disk_overhead: "int" };
export const DS_DEFAULTS: ParamDict = { disk_total: 0, disk_reserved: 0, disk_overhead: 0 };
/** Storage types a disk_state may describe (Ganeti's DS_VALID_TYPES). */
export const DS_VALID_TYPES: readonly string[] = ["plain"];

/** Every disk template parameter (one flat table, as Ganeti's DISK_DT_TYPES). */
export const DISK_DT_TYPES: TypeTable = typesOfDefaults(Object.values(DEFAULT_DISKPARAMS));

/** Every hypervisor parameter of every hypervisor (Ganeti's HVS_PARAMETER_TYPES). */
export const HVS_PARAMETER_TYPES: TypeTable = typesOfDefaults(Object.values(DEFAULT_HVPARAMS), { root_path: "maybe-string" });

// The defaults are the source of the tables above; keep the hand-written ones honest too.
for (const [table, defaults] of [[NDS_PARAMETER_TYPES, DEFAULT_NDPARAMS], [BES_PARAMETER_TYPES, DEFAULT_BEPARAMS]] as const) {
  for (const k of Object.keys(defaults)) if (!(k in table)) throw new Error(`no type for default parameter ${k}`);
}

/** Python's str() of a value, as Ganeti's "%s" puts it in messages. */
export function pyStr(value: unknown): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/** Python's int() of a string: optional sign and whitespace, digits (with single underscores). */
function pyIntOfString(s: string): number | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[2].replace(/_/g, ""));
  return m[1] === "-" ? -n : n;
}

function pyFloatOfString(s: string): number | undefined {
  const t = s.trim().toLowerCase().replace(/_/g, "");
  if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/** Ganeti's ParseUnit: "512", "1.5g", "2 TiB" → MiB, rounded up to a multiple of 4. */
export function parseUnit(input: unknown): number {
  const m = /^([.\d]+)\s*([a-zA-Z]+)?$/.exec(pyStr(input));
  if (!m) throw new Error("Invalid format");
  let value = Number(m[1]);
  if (Number.isNaN(value)) throw new Error("Invalid format");
  const unit = (m[2] ?? "m").toLowerCase();
  if (["g", "gb", "gib"].includes(unit)) value *= 1024;
  else if (["t", "tb", "tib"].includes(unit)) value *= 1024 * 1024;
  else if (!["m", "mb", "mib"].includes(unit)) throw new Error(`Unknown unit: ${m[2]}`);
  value = Math.ceil(value);
  return value % 4 ? value + 4 - (value % 4) : value;
}

/** One value converted to its type, or a TypeEnforcementError naming the key. */
function enforce(key: string, value: unknown, type: VType): unknown {
  const fail = (what: string, extra = "") =>
    new TypeEnforcementError(`'${key}' (value ${pyStr(value)}) is not a valid ${what}${extra}`);
  switch (type) {
    case "string":
    case "maybe-string":
      if (typeof value === "string" || (value === null && type === "maybe-string")) return value;
      if (value === false) return "";
      throw fail("string");
    case "bool":
      if (typeof value === "string" && value !== "") {
        if (value.toLowerCase() === "false") return false;
        if (value.toLowerCase() === "true") return true;
        throw fail("boolean");
      }
      return isTruthy(value);
    case "size":
      try {
        return parseUnit(value);
      } catch (err) {
        throw fail("size", `. error: ${(err as Error).message}`);
      }
    case "int": {
      const n = typeof value === "number" ? Math.trunc(value) : typeof value === "boolean" ? Number(value)
        : typeof value === "string" ? pyIntOfString(value) : undefined;
      if (n === undefined || !Number.isFinite(n)) throw fail("integer");
      return n;
    }
    case "float": {
      const n = typeof value === "number" ? value : typeof value === "boolean" ? Number(value)
        : typeof value === "string" ? pyFloatOfString(value) : undefined;
      if (n === undefined) throw fail("float");
      return n;
    }
  }
}

/** Python's truthiness of a JSON value. */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object" && value !== null) return Object.keys(value).length > 0;
  return Boolean(value);
}

/**
 * Ganeti's ForceDictType: every key must be known, and every value is checked and
 * converted to its type in place ("2" becomes 2 for an int). `allowed` values pass as they are.
 */
export function forceDictType(target: unknown, types: TypeTable, allowed: readonly unknown[] = []): ParamDict {
  if (typeof target !== "object" || target === null || Array.isArray(target)) {
    throw new TypeEnforcementError(`Expected dictionary, got '${pyStr(target)}'`);
  }
  const dict = target as ParamDict;
  for (const key of Object.keys(dict)) {
    const type = types[key];
    if (type === undefined) throw new TypeEnforcementError(`Unknown parameter '${key}'`);
    if (allowed.includes(dict[key])) continue;
    dict[key] = enforce(key, dict[key], type);
  }
  return dict;
}

/** Ganeti's FillDict: a copy of `defaults` with `custom` laid over it, minus `skip`. */
export function fillDict(defaults: ParamDict | undefined, custom: ParamDict | undefined, skip: readonly string[] = []): ParamDict {
  const out: ParamDict = structuredClone({ ...defaults, ...custom });
  for (const k of skip) delete out[k];
  return out;
}

/** Disk parameters filled template by template (Ganeti's FillDiskParams). */
export function fillNested(defaults: NestedParams, custom: NestedParams | undefined): NestedParams {
  const out: NestedParams = {};
  for (const key of new Set([...Object.keys(defaults), ...Object.keys(custom ?? {})])) {
    out[key] = fillDict(defaults[key], custom?.[key]);
  }
  return out;
}

/**
 * Ganeti's VerifyDictOptions: every key (recursively) must exist in `defaults`; the
 * message lists the bad ones as paths ("drbd/bogus").
 */
export function unknownOptionKeys(options: ParamDict, defaults: ParamDict, path = ""): string[] {
  const bad: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    const at = path ? `${path}/${key}` : key;
    if (!(key in defaults)) bad.push(at);
    else if (isDict(value)) {
      bad.push(...unknownOptionKeys(value as ParamDict, (defaults[key] ?? {}) as ParamDict, at));
    }
  }
  return bad;
}
