// Lock fields (Ganeti's Query/Locks.hs): the lock manager's current owners and waiters.

import { field, FieldTable } from "./fields.ts";

export interface LockRow {
  name: string;
  /** "exclusive", "shared", or null when nobody holds the lock. */
  mode: string | null;
  /** Owners (job identifiers). */
  owner: unknown[];
  /** Waiters: `[mode, [owner]]` per pending request. */
  pending: unknown[];
}

export const lockFields = new FieldTable<LockRow>([
  field("name", "Name", "other", "Lock name", (l) => l.name),
  field("mode", "Mode", "other", "Mode in which the lock is currently acquired (exclusive or shared)", (l) => l.mode),
  field("owner", "Owner", "other", "Current lock owner(s)", (l) => l.owner),
  field("pending", "Pending", "other", "Jobs waiting for the lock", (l) => l.pending),
]);
