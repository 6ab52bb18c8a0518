// The event stream's hub (GET /corral/1/events): every job and config change becomes one
// event with a global increasing id, encoded once (when first sent) as its Server-Sent Events
// frame and kept in a bounded history for resuming. A subscriber is a cursor into that
// history: a short timer flushes to each what came after its cursor in one write, so 1,000
// listeners cost 1,000 writes per flush, not per event, and listeners at the same place with
// the same filter share one buffer. A subscriber whose socket is full gets nothing until it
// drains: it falls behind in the history, not in the master's memory, and is cut off (with a
// last event saying so) once the history has moved past it — never skipped silently. A
// subscriber may take the stream in gzip: pieces are compressed once too (gzip.ts).

import { deflatePiece, GzipStream, pieceCrc, type GzipPiece } from "./gzip.ts";

export const EVENT_KINDS = ["job", "instance", "node", "group", "network", "filter", "cluster"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Which events a subscriber gets: undefined sets match everything. */
export interface EventFilter {
  readonly kinds?: ReadonlySet<EventKind>;
  /** Object names; a job event's name is its id in decimal. */
  readonly names?: ReadonlySet<string>;
}

/** Where a subscriber's frames go: an HTTP response (node:http's ServerResponse fits). */
export interface EventSink {
  /** Bytes written but not yet taken by the client. */
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: string | Buffer): boolean;
  end(): void;
  destroy(): void;
  once(event: "close", listener: () => void): unknown;
}

export interface EventBusOptions {
  /** Events kept for resuming (Last-Event-ID); a subscriber further behind is cut off. */
  historySize: number;
  /** How long events gather before they go out to subscribers, ms. */
  flushMs: number;
  /** A subscriber whose socket holds more than this unread gets nothing until it drains. */
  maxBufferedBytes: number;
  /** At most about this much text per write (a replay or a large burst goes out in pieces). */
  chunkBytes: number;
  /** At most about this much text to one subscriber per flush (a replay goes on at the next). */
  flushBytes: number;
  /** A comment line this often keeps proxies from closing an idle stream, ms. */
  heartbeatMs: number;
  /** A cut-off subscriber whose socket does not take its last bytes in this time is destroyed, ms. */
  drainGraceMs: number;
  /**
   * The first event's id. The master starts each run past every id an earlier run can have
   * given (ms since the epoch × 100: an earlier run would need 100 events per ms of its life
   * to reach it; 15 digits, as Last-Event-ID is read), so a client resuming with an old
   * run's id gets a gap event rather than the wrong place in the new run's history.
   */
  firstId: number;
}

export const DEFAULT_EVENT_BUS_OPTIONS: EventBusOptions = {
  historySize: 10_000,
  flushMs: 50,
  maxBufferedBytes: 16 << 10,
  chunkBytes: 64 << 10,
  flushBytes: 256 << 10,
  heartbeatMs: 15_000,
  drainGraceMs: 5_000,
  firstId: 1,
};

interface StoredEvent {
  readonly id: number;
  readonly kind: EventKind;
  readonly name: string;
  readonly data: object;
  /** Its SSE text, made when first sent: nothing is encoded while nobody listens. */
  frame: string | undefined;
}

interface Subscriber {
  readonly sink: EventSink;
  readonly filter: EventFilter;
  /** Subscribers with equal keys get the same text for the same cursor. */
  readonly filterKey: string;
  /** The id of the last event this subscriber was sent (or skipped by its filter). */
  cursor: number;
  /** Set when it takes the stream in gzip. */
  readonly gzip: GzipStream | undefined;
}

/** Stream text encoded once for every subscriber it goes to; compressed when one needs it. */
class Piece implements GzipPiece {
  readonly bytes: Buffer;
  /** The last event id it covers. */
  readonly end: number;
  private compressed: Buffer | undefined;
  private checksum: number | undefined;
  constructor(text: string, end = 0) {
    this.bytes = Buffer.from(text);
    this.end = end;
  }
  get deflated(): Buffer {
    return (this.compressed ??= deflatePiece(this.bytes));
  }
  get crc(): number {
    return (this.checksum ??= pieceCrc(this.bytes));
  }
}

export interface SubscribeOptions {
  /** Resume after this id (Last-Event-ID); null: an id that could not be read. */
  resumeAfter?: number | null;
  /** The sink takes the stream in gzip (the response says Content-Encoding: gzip). */
  gzip?: boolean;
}

export class EventBus {
  private readonly o: EventBusOptions;
  /** Event `id` sits at `id % historySize`. */
  private readonly ring: (StoredEvent | undefined)[];
  private lastId: number;
  /** Ids before this one belong to an earlier run of the master (firstId). */
  private readonly firstId: number;
  private readonly subscribers = new Set<Subscriber>();
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  /** The id-only frame a new subscriber starts with, shared while no event comes. */
  private startPiece: Piece | undefined;

  constructor(options: Partial<EventBusOptions> = {}) {
    this.o = { ...DEFAULT_EVENT_BUS_OPTIONS, ...options };
    this.ring = new Array<StoredEvent | undefined>(this.o.historySize);
    this.firstId = this.o.firstId;
    this.lastId = this.firstId - 1;
  }

  /** The id of the newest event (firstId - 1 before the first). */
  get lastEventId(): number {
    return this.lastId;
  }

  /** The oldest id still in the history (the next event's id while there is none). */
  get oldestEventId(): number {
    return Math.max(this.firstId, this.lastId - this.o.historySize + 1);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Records an event and queues it for the subscribers; returns its id. `data` is encoded
   * when the event is first sent, so it must not change after this call.
   */
  publish(kind: EventKind, name: string, data: object): number {
    const id = ++this.lastId;
    this.ring[id % this.o.historySize] = { id, kind, name, data, frame: undefined };
    if (this.subscribers.size > 0) this.scheduleFlush();
    return id;
  }

  /**
   * Sends `sink` every event matching `filter` from now on; with `resumeAfter`, first those
   * after that id still in the history. An id the history no longer holds (or never held, or
   * null: unreadable) gets a `gap` event instead, and the stream goes on from the newest id.
   * Returns the unsubscribe function (a closed sink unsubscribes by itself).
   */
  subscribe(sink: EventSink, filter: EventFilter, options: SubscribeOptions = {}): () => void {
    const sub: Subscriber = {
      sink, filter, filterKey: filterKeyOf(filter), cursor: this.lastId, gzip: options.gzip ? new GzipStream() : undefined,
    };
    if (this.closed || sink.destroyed) {
      this.finish(sub);
      return () => undefined;
    }
    this.subscribers.add(sub);
    sink.once("close", () => this.drop(sub));
    const { resumeAfter } = options;
    if (resumeAfter === undefined) {
      // An id-only frame: an EventSource that reconnects before any event resumes from here.
      if (this.startPiece?.end !== this.lastId) this.startPiece = new Piece(`id: ${this.lastId}\n\n`, this.lastId);
      this.put(sub, this.startPiece);
    } else if (resumeAfter === null || resumeAfter > this.lastId || resumeAfter < this.oldestEventId - 1) {
      const gap = { last_event_id: resumeAfter, oldest_event_id: this.oldestEventId };
      this.put(sub, new Piece(`id: ${this.lastId}\nevent: gap\ndata: ${JSON.stringify(gap)}\n\n`));
    } else {
      sub.cursor = resumeAfter;
      if (!this.deliver(sub, new Map())) this.scheduleFlush();
    }
    this.heartbeat ??= setInterval(() => this.beat(), this.o.heartbeatMs).unref();
    return () => this.drop(sub);
  }

  /** Ends every stream (the master is stopping) and stops taking subscribers. */
  close(): void {
    this.flush();
    this.closed = true;
    for (const sub of [...this.subscribers]) {
      this.drop(sub);
      this.finish(sub);
    }
    clearTimeout(this.flushTimer);
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => this.flush(), this.o.flushMs);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const pieces = new Map<string, Piece>();
    let behind = false;
    for (const sub of [...this.subscribers]) {
      if (sub.cursor >= this.lastId) continue;
      if (sub.cursor < this.oldestEventId - 1) this.overflow(sub, `more than ${this.o.historySize} events behind`);
      else if (!this.deliver(sub, pieces)) behind = true;
    }
    // Those whose sockets were full are looked at again by the next flush. (Not on their
    // drain events: node:http's response does not emit one every time its socket drains.)
    if (behind) this.scheduleFlush();
  }

  /**
   * Writes what follows the subscriber's cursor, a piece at a time, unless its socket holds
   * more than maxBufferedBytes; true once it has caught up. (The socket's length is read
   * before writing: node:http holds this turn's writes back until the next one.)
   */
  private deliver(sub: Subscriber, pieces: Map<string, Piece>): boolean {
    if (sub.sink.writableLength > this.o.maxBufferedBytes) return false;
    for (let written = 0; sub.cursor < this.lastId; ) {
      if (written >= this.o.flushBytes || sub.sink.destroyed) return false;
      const key = `${sub.cursor}|${sub.filterKey}`;
      let piece = pieces.get(key);
      if (!piece) pieces.set(key, (piece = this.collect(sub.cursor, sub.filter)));
      if (piece.bytes.length > 0) this.put(sub, piece);
      written += piece.bytes.length;
      sub.cursor = piece.end;
    }
    return true;
  }

  /** The frames after `after` that match, up to about a chunk. */
  private collect(after: number, filter: EventFilter): Piece {
    let text = "";
    let id = after;
    while (id < this.lastId) {
      const event = this.ring[(id + 1) % this.o.historySize]!;
      if (matches(filter, event)) {
        const frame = (event.frame ??= `id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event.data)}\n\n`);
        if (text.length > 0 && text.length + frame.length > this.o.chunkBytes) break;
        text += frame;
      }
      id++;
    }
    return new Piece(text, id);
  }

  private put(sub: Subscriber, piece: Piece): void {
    sub.sink.write(sub.gzip ? sub.gzip.piece(piece) : piece.bytes);
  }

  /** Ends a subscriber's stream (its gzip trailer included), after a last piece if given. */
  private finish(sub: Subscriber, last?: Piece): void {
    if (last) this.put(sub, last);
    if (sub.gzip) sub.sink.write(sub.gzip.end());
    sub.sink.end();
  }

  /** Cuts a subscriber off with a last event saying why and where to resume from. */
  private overflow(sub: Subscriber, reason: string): void {
    this.drop(sub);
    const data = JSON.stringify({ reason, last_event_id: sub.cursor });
    this.finish(sub, new Piece(`event: overflow\ndata: ${data}\n\n`));
    const deadline = setTimeout(() => sub.sink.destroy(), this.o.drainGraceMs).unref();
    sub.sink.once("close", () => clearTimeout(deadline));
  }

  /**
   * A comment for the proxies, with the subscriber's place as its id: a filtered stream's
   * Last-Event-ID then moves past the events its filter passed over, so a reconnect after a
   * quiet hour resumes instead of finding its id gone from the history.
   */
  private beat(): void {
    const pieces = new Map<number, Piece>();
    for (const sub of this.subscribers) {
      let piece = pieces.get(sub.cursor);
      if (!piece) pieces.set(sub.cursor, (piece = new Piece(`: keepalive\nid: ${sub.cursor}\n\n`)));
      this.put(sub, piece);
    }
  }

  private drop(sub: Subscriber): void {
    if (!this.subscribers.delete(sub) || this.subscribers.size > 0) return;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

function matches(filter: EventFilter, event: StoredEvent): boolean {
  return (!filter.kinds || filter.kinds.has(event.kind)) && (!filter.names || filter.names.has(event.name));
}

function filterKeyOf(filter: EventFilter): string {
  const list = (set: ReadonlySet<string> | undefined) => (set ? [...set].sort() : null);
  return JSON.stringify([list(filter.kinds), list(filter.names)]);
}
