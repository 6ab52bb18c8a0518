// A field is declared once — name, title, kind, doc and how to compute it — and serves
// bulk RAPI output, single-object GETs, /2/query and its /fields, the CLI and PVC views.

export type FieldKind = "text" | "bool" | "number" | "unit" | "timestamp" | "other" | "unknown";

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
export const NODATA = new NoValue(RS.nodata);
export const UNAVAIL = new NoValue(RS.unavail);
export const OFFLINE = new NoValue(RS.offline);

export interface FieldDef<R> {
  readonly name: string;
  readonly title: string;
  readonly kind: FieldKind;
  readonly doc: string;
  /** The value, or a NoValue whose status tells why there is none. */
  readonly get: (row: R) => unknown;
}

export type FieldGetter<R> = (row: R) => unknown;

export function field<R>(name: string, title: string, kind: FieldKind, doc: string, get: FieldGetter<R>): FieldDef<R> {
  return { name, title, kind, doc, get };
}

/** All fields of one object kind, by name, in declaration order. */
export class FieldTable<R> {
  readonly byName: ReadonlyMap<string, FieldDef<R>>;
  constructor(defs: readonly FieldDef<R>[]) {
    this.byName = new Map(defs.map((d) => [d.name, d]));
  }
  get(name: string): FieldDef<R> | undefined {
    return this.byName.get(name);
  }
  /** Getters for a list of field names (compiled once, reused per row). */
  getters(names: readonly string[]): FieldGetter<R>[] {
    return names.map((n) => this.byName.get(n)?.get ?? (() => new NoValue(RS.unknown)));
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
