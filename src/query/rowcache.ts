// Cached JSON encoding of field rows, for bulk lists of many objects. A row's fields read from
// the config are encoded once per row object and reused while what they read is unchanged;
// the fields from the nodes (or the job queue) are encoded per request into the gaps. Which
// field is which comes from the declarations' data sources (fields.ts), never from a list here.

import { NoValue, type FieldGetter, type FieldTable } from "./fields.ts";

export interface RowCacheKeys<R, K extends object> {
  /** The object a row's cached encoding belongs to; it is dropped with that object (WeakMap). */
  owner(row: R): K;
  /**
   * Everything else the row's config fields read, compared by identity: snapshots replace
   * objects and never change them in place, so the same objects mean the same values.
   */
  deps(row: R): unknown[];
}

interface Encoded {
  readonly deps: readonly unknown[];
  /** The JSON text around the live values: one more piece than there are live fields. */
  readonly parts: readonly string[];
}

/** Stands for a live value while encoding (a config string equal to it is caught in `encodeOnce`). */
const LIVE_MARK = "\u0000live";
const LIVE_MARK_JSON = JSON.stringify(LIVE_MARK);

const encode = (v: unknown): string => JSON.stringify(v instanceof NoValue ? null : v);

const sameDeps = (a: readonly unknown[], b: readonly unknown[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Encodes rows of `table` as JSON objects of the named fields, in that order; unavailable values as null. */
export class CachedRowEncoder<R, K extends object> {
  private readonly names: readonly string[];
  private readonly getters: readonly FieldGetter<R>[];
  private readonly isLive: readonly boolean[];
  private readonly liveGetters: readonly FieldGetter<R>[];
  private readonly keys: RowCacheKeys<R, K>;
  private readonly cache = new WeakMap<K, Encoded>();

  /** `getters` overrides the table's getter of a field (the fields' order stays `names`). */
  constructor(table: FieldTable<R>, names: readonly string[], keys: RowCacheKeys<R, K>, getters: Record<string, FieldGetter<R>> = {}) {
    this.names = names;
    this.getters = names.map((n) => getters[n] ?? table.getters([n])[0]);
    this.isLive = names.map((n) => (table.get(n)?.source ?? "config") !== "config");
    this.liveGetters = this.getters.filter((_, i) => this.isLive[i]);
    this.keys = keys;
  }

  /** Appends the row's JSON object to `pieces` (joined by the caller, once per chunk). */
  encodeInto(row: R, pieces: string[]): void {
    const parts = this.configParts(row);
    pieces.push(parts[0]);
    for (let j = 0; j < this.liveGetters.length; j++) pieces.push(encode(this.liveGetters[j](row)), parts[j + 1]);
  }

  private configParts(row: R): readonly string[] {
    const owner = this.keys.owner(row);
    const deps = this.keys.deps(row);
    const hit = this.cache.get(owner);
    if (hit && sameDeps(hit.deps, deps)) return hit.parts;
    const parts = this.encodeOnce(row) ?? this.fieldByField(row);
    this.cache.set(owner, { deps, parts });
    return parts;
  }

  /** The whole object encoded once, with markers where the live values go, cut there. */
  private encodeOnce(row: R): string[] | null {
    const d: Record<string, unknown> = {};
    for (let i = 0; i < this.names.length; i++) {
      const v = this.isLive[i] ? LIVE_MARK : this.getters[i](row);
      d[this.names[i]] = v instanceof NoValue ? null : v;
    }
    const text = JSON.stringify(d);
    const parts: string[] = [];
    let from = 0;
    for (let at = text.indexOf(LIVE_MARK_JSON); at >= 0; at = text.indexOf(LIVE_MARK_JSON, from)) {
      parts.push(text.slice(from, at));
      from = at + LIVE_MARK_JSON.length;
    }
    parts.push(text.slice(from));
    // A config string equal to the marker would cut in the wrong place.
    return parts.length === this.liveGetters.length + 1 ? parts : null;
  }

  /** The slow way, always right: each config field encoded on its own. */
  private fieldByField(row: R): string[] {
    const parts: string[] = [];
    let cur = "{";
    for (let i = 0; i < this.names.length; i++) {
      const key = (i === 0 ? "" : ",") + JSON.stringify(this.names[i]) + ":";
      if (this.isLive[i]) {
        parts.push(cur + key);
        cur = "";
      } else {
        cur += key + encode(this.getters[i](row));
      }
    }
    parts.push(cur + "}");
    return parts;
  }
}
