// A field is declared once — name, title, kind, doc and how to compute it — and serves
// bulk RAPI output, single-object GETs, /2/query and its /fields, the CLI and PVC views.

/** Query2 field kinds (Ganeti's QFT_*); "float" is QFT_NUMBER_FLOAT. */
export type FieldKind = "text" | "bool" | "number" | "float" | "unit" | "timestamp" | "other" | "unknown";

/** Query2 result status codes (Ganeti's RS_*). */
export const RS = { normal: 0, unknown: 1, nodata: 2, unavail: 3, offline: 4 } as const;
export type ResultStatus = (typeof RS)[keyof typeof RS];

/** What a getter returns when it has no value: the status says why. */
export class NoValue {
  readonly status: ResultStatus;
  constructor(status: ResultStatus) {
    this.status = status;
  }
}
export const UNKNOWN = new NoValue(RS.unknown);
export const NODATA = new NoValue(RS.nodata);
export const UNAVAIL = new NoValue(RS.unavail);
export const OFFLINE = new NoValue(RS.offline);

/**
 * How the filter language compares a field (Ganeti's QffMode): "hostname" fields match a
 * name or its short form in `==`; "timestamp" fields are `[sec, usec]` compared by seconds.
 */
export type FilterMode = "normal" | "hostname" | "timestamp";

export type FieldGetter<R> = (row: R) => unknown;

/**
 * Where a field's value comes from (Ganeti's IQ_CONFIG, IQ_LIVE…): the config, the nodes'
 * runtime state, or the job queue. What needs live data, or what a config-only cache may
 * hold, is derived from this, never kept in a second list.
 */
export type DataSource = "config" | "live" | "job";

export interface FieldDef<R> {
  readonly name: string;
  readonly title: string;
  readonly kind: FieldKind;
  readonly doc: string;
  /** The value, or a NoValue whose status tells why there is none. */
  readonly get: FieldGetter<R>;
  readonly filterMode: FilterMode;
  readonly source: DataSource;
}

/** The wire form of a field definition (`/2/query/*` "fields" entries). */
export interface FieldDefJson {
  name: string;
  title: string;
  kind: FieldKind;
  doc: string;
}

export function field<R>(
  name: string,
  title: string,
  kind: FieldKind,
  doc: string,
  get: FieldGetter<R>,
  filterMode: FilterMode = "normal",
): FieldDef<R> {
  return { name, title, kind, doc, get, filterMode, source: "config" };
}

/** The fields, each read from `source`. */
export function fromSource<R>(source: DataSource, defs: readonly FieldDef<R>[]): FieldDef<R>[] {
  return defs.map((d) => ({ ...d, source }));
}

/** The field, its value read from the nodes' runtime state. */
export function live<R>(def: FieldDef<R>): FieldDef<R> {
  return { ...def, source: "live" };
}

/** The same definition under another name (Ganeti's field aliases: `vcpus` → `be/vcpus`). */
export function alias<R>(name: string, of: FieldDef<R>): FieldDef<R> {
  return { ...of, name };
}

const unknownGetter = (): NoValue => UNKNOWN;

/** What Ganeti answers for a requested field that does not exist. */
export function unknownFieldDef(name: string): FieldDefJson {
  return { name, title: name, kind: "unknown", doc: `Unknown field '${name}'` };
}

/** All fields of one object kind, by name, in declaration order. */
export class FieldTable<R> {
  readonly byName: ReadonlyMap<string, FieldDef<R>>;
  readonly defs: readonly FieldDef<R>[];
  private readonly json = new Map<string, FieldDefJson>();
  constructor(defs: readonly FieldDef<R>[]) {
    const byName = new Map<string, FieldDef<R>>();
    for (const d of defs) {
      if (byName.has(d.name)) throw new Error(`field ${d.name} is declared twice`);
      byName.set(d.name, d);
      this.json.set(d.name, { name: d.name, title: d.title, kind: d.kind, doc: d.doc });
    }
    this.byName = byName;
    this.defs = defs;
  }
  get(name: string): FieldDef<R> | undefined {
    return this.byName.get(name);
  }
  /** The values of the named fields for one row (a field without a value: null). */
  values(row: R, names: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const n of names) {
      const v = (this.byName.get(n)?.get ?? unknownGetter)(row);
      out[n] = v instanceof NoValue ? null : v;
    }
    return out;
  }
  /** The names of the fields read from `source`. */
  namesFrom(source: DataSource): string[] {
    return this.defs.filter((d) => d.source === source).map((d) => d.name);
  }
  /** Getters for a list of field names (compiled once, reused per row). */
  getters(names: readonly string[]): FieldGetter<R>[] {
    return names.map((n) => this.byName.get(n)?.get ?? unknownGetter);
  }
  /** Wire definitions for a list of names; unknown names get Ganeti's "unknown" definition. */
  definitions(names: readonly string[]): FieldDefJson[] {
    return names.map((n) => this.json.get(n) ?? unknownFieldDef(n));
  }
}

/** A classic (bulk) row: values with unavailable ones as null, as RAPI's bulk output has them. */
export function plainValues<R>(getters: readonly FieldGetter<R>[], row: R): unknown[] {
  return getters.map((g) => {
    const v = g(row);
    return v instanceof NoValue ? null : v;
  });
}

/** Zips names with a row's values into the dict bulk output and single GETs return. */
export function toDict<R>(names: readonly string[], getters: readonly FieldGetter<R>[], row: R): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) {
    const v = getters[i](row);
    out[names[i]] = v instanceof NoValue ? null : v;
  }
  return out;
}

/** A Query2 row: one `[status, value]` pair per field, value null unless status is 0. */
export function statusRow<R>(getters: readonly FieldGetter<R>[], row: R): [ResultStatus, unknown][] {
  const out = new Array<[ResultStatus, unknown]>(getters.length);
  for (let i = 0; i < getters.length; i++) {
    const v = getters[i](row);
    out[i] = v instanceof NoValue ? [v.status, null] : [RS.normal, v];
  }
  return out;
}
