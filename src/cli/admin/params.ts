// gnt-*'s parameter syntax on the command line: `-B maxmem=1G,vcpus=2`, `-H kvm:kernel_path=/x`,
// `--disk 0:size=10G`, sizes with units (Ganeti's ParseUnit: MiB by default; m, g, t).

export class UsageError extends Error {}

/** MiB from "512", "512m", "10G", "1.5t" (Ganeti rounds up to a multiple of 4 MiB; so does this). */
export function parseUnit(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([mgtMGT](?:i?[bB])?)?\s*$/.exec(text);
  if (!m) throw new UsageError(`invalid size '${text}' (a number of MiB, or with a unit: 512M, 10G, 1T)`);
  const factor = { m: 1, g: 1024, t: 1024 * 1024 }[(m[2] ?? "m")[0].toLowerCase() as "m" | "g" | "t"];
  const mib = Math.ceil(Number(m[1]) * factor);
  return mib % 4 === 0 ? mib : mib + 4 - (mib % 4);
}

/** Parameters whose values are sizes (units allowed), by the names Ganeti gives them. */
const SIZE_KEYS = new Set(["size", "maxmem", "minmem", "memory", "amount"]);

/** One value as the API wants it: sizes in MiB, whole numbers as numbers, the rest as given. */
function typed(key: string, raw: string): unknown {
  if (SIZE_KEYS.has(key)) return parseUnit(raw);
  if (/^-?\d+$/.test(raw)) return Number(raw);
  return raw;
}

/** "a=1,b=x" → { a: 1, b: "x" }; "no_x" → { x: false } and a bare "x" → { x: true } (Ganeti's shorthand). */
export function parseKeyValues(text: string, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (text === "") return out;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (part === "") throw new UsageError(`empty parameter in ${what} '${text}'`);
      if (part.startsWith("no_")) out[part.slice(3)] = false;
      else if (part.startsWith("-")) out[part.slice(1)] = null; // reset to the default
      else out[part] = true;
      continue;
    }
    const key = part.slice(0, eq);
    if (key === "") throw new UsageError(`a parameter without a name in ${what} '${text}'`);
    out[key] = typed(key, part.slice(eq + 1));
  }
  return out;
}

/** "IDENT:k=v,…" (`--disk 0:size=1G`, `-H kvm:…`, `--net add:link=br0`) → [IDENT, params]. */
export function parseIdentKeyValues(text: string, what: string): [string, Record<string, unknown>] {
  const colon = text.indexOf(":");
  if (colon < 0) return [text, {}];
  return [text.slice(0, colon), parseKeyValues(text.slice(colon + 1), what)];
}

/** Repeated `--disk N:…` / `--net N:…` options as the list RAPI's create wants, by index. */
export function indexedList(values: readonly string[], what: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const v of values) {
    const [ident, params] = parseIdentKeyValues(v, what);
    if (!/^\d+$/.test(ident)) throw new UsageError(`${what} '${v}': expected N:key=value,… with N the index`);
    const i = Number(ident);
    if (out[i] !== undefined) throw new UsageError(`${what} ${i} is given twice`);
    out[i] = params;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) throw new UsageError(`${what} ${i} is missing (indices start at 0 and have no gaps)`);
  return out;
}

/** `-H kvm:k=v` → { kvm: { k: v } } with its hypervisor; `-H k=v` → the parameters alone. */
export function hypervisorParams(text: string): { hypervisor?: string; params: Record<string, unknown> } {
  const colon = text.indexOf(":");
  const eq = text.indexOf("=");
  if (colon > 0 && (eq < 0 || colon < eq)) return { hypervisor: text.slice(0, colon), params: parseKeyValues(text.slice(colon + 1), "-H") };
  return { params: parseKeyValues(text, "-H") };
}

/** Collects a repeatable option's values (commander's argParser). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
