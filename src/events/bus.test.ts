import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, it } from "node:test";
import { EventBus, type EventBusOptions, type EventSink } from "./bus.ts";

/** A sink that records its writes; a stalled one keeps them unread until `take()`. */
class FakeSink extends EventEmitter implements EventSink {
  readonly writes: string[] = [];
  readonly raw: Buffer[] = [];
  stalled = false;
  private unread = 0;
  ended = false;
  destroyed = false;
  get writableLength(): number {
    return this.unread;
  }
  write(chunk: string | Buffer): boolean {
    const text = chunk.toString();
    this.writes.push(text);
    this.raw.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    if (this.stalled) this.unread += text.length;
    this.emit("write");
    return this.unread === 0;
  }
  /** The client reads everything, and from now on as it comes. */
  take(): void {
    this.stalled = false;
    this.unread = 0;
  }
  end(): void {
    this.ended = true;
    this.emit("end");
  }
  destroy(): void {
    this.destroyed = true;
    this.emit("close");
  }
  get text(): string {
    return this.writes.join("");
  }
  /** [event, id] of every frame written, in order. */
  frames(): [string, number | undefined][] {
    return this.text
      .split("\n\n")
      .filter((f) => f.includes("event: "))
      .map((f) => [/event: (\w+)/.exec(f)![1], /^id: (\d+)/m.test(f) ? Number(/^id: (\d+)/m.exec(f)![1]) : undefined]);
  }
}

const buses: EventBus[] = [];
const bus = (o: Partial<EventBusOptions> = {}) => {
  const b = new EventBus({ flushMs: 1, ...o });
  buses.push(b);
  return b;
};
// A failed test leaves no flush timer running.
afterEach(() => {
  for (const b of buses.splice(0)) b.close();
});
const flushed = (sink: FakeSink) => once(sink, "write");

describe("EventBus", () => {
  it("numbers events from 1 and starts a new subscriber at the newest id", async () => {
    const b = bus();
    b.publish("job", "1", { id: 1 });
    const sink = new FakeSink();
    b.subscribe(sink, {});
    assert.equal(sink.text, "id: 1\n\n", "an id-only frame: a reconnect before any event resumes from here");
    b.publish("node", "n1", { name: "n1" });
    await flushed(sink);
    assert.equal(sink.writes[1], 'id: 2\nevent: node\ndata: {"name":"n1"}\n\n');
  });

  it("sends each subscriber one write per flush, whatever the number of events", async () => {
    const b = bus();
    const sinks = [new FakeSink(), new FakeSink(), new FakeSink()];
    for (const s of sinks) b.subscribe(s, {});
    for (let i = 0; i < 100; i++) b.publish("job", String(i), { i });
    await flushed(sinks[0]);
    for (const s of sinks) {
      assert.equal(s.writes.length, 2, "the id frame, then one write of 100 events");
      assert.deepEqual(s.frames().map((f) => f[1]), Array.from({ length: 100 }, (_, i) => i + 1));
    }
  });

  it("filters by kind and by name", async () => {
    const b = bus();
    const byKind = new FakeSink();
    const byName = new FakeSink();
    const both = new FakeSink();
    b.subscribe(byKind, { kinds: new Set(["instance"]) });
    b.subscribe(byName, { names: new Set(["a"]) });
    b.subscribe(both, { kinds: new Set(["job"]), names: new Set(["a"]) });
    b.publish("instance", "a", {});
    b.publish("instance", "b", {});
    b.publish("job", "a", {});
    b.publish("node", "a", {});
    await flushed(byKind);
    assert.deepEqual(byKind.frames(), [["instance", 1], ["instance", 2]]);
    assert.deepEqual(byName.frames(), [["instance", 1], ["job", 3], ["node", 4]]);
    assert.deepEqual(both.frames(), [["job", 3]]);
  });

  it("resumes after an id in the history, and sends a gap for one it no longer has", () => {
    const b = bus({ historySize: 5 });
    for (let i = 0; i < 8; i++) b.publish("job", String(i), {});
    const resumed = new FakeSink();
    b.subscribe(resumed, {}, { resumeAfter: 5 });
    assert.deepEqual(resumed.frames(), [["job", 6], ["job", 7], ["job", 8]]);
    const edge = new FakeSink();
    b.subscribe(edge, {}, { resumeAfter: 3 });
    assert.deepEqual(edge.frames().map((f) => f[1]), [4, 5, 6, 7, 8], "the oldest kept id is 4");
    for (const [asked, shown] of [[2, 2], [9, 9], [null, null]] as const) {
      const sink = new FakeSink();
      b.subscribe(sink, {}, { resumeAfter: asked });
      assert.equal(sink.text, `id: 8\nevent: gap\ndata: {"last_event_id":${shown},"oldest_event_id":4}\n\n`, `resume after ${asked}`);
    }
  });

  it("starts at firstId, so an id of an earlier run (the master restarted) gets a gap, not a wrong place", () => {
    const b = bus({ historySize: 5, firstId: 1000 });
    for (let i = 0; i < 2; i++) b.publish("job", String(i), {});
    assert.equal(b.lastEventId, 1001);
    assert.equal(b.oldestEventId, 1000);
    const earlier = new FakeSink();
    b.subscribe(earlier, {}, { resumeAfter: 998 });
    assert.equal(earlier.text, `id: 1001\nevent: gap\ndata: {"last_event_id":998,"oldest_event_id":1000}\n\n`);
    const fromStart = new FakeSink();
    b.subscribe(fromStart, {}, { resumeAfter: 999 });
    assert.deepEqual(fromStart.frames(), [["job", 1000], ["job", 1001]]);
  });

  it("replays a long history in pieces, as fast as the client reads them", async () => {
    const b = bus({ chunkBytes: 1000, flushBytes: 2000, maxBufferedBytes: 2000 });
    for (let i = 0; i < 100; i++) b.publish("job", String(i), { pad: "x".repeat(50) });
    const sink = new FakeSink();
    sink.stalled = true;
    b.subscribe(sink, {}, { resumeAfter: 0 });
    const first = sink.frames().length;
    assert.ok(first > 0 && first < 100, `the first pieces (${first} events), not the whole history`);
    assert.ok(sink.writes.every((w) => w.length <= 1000), "pieces of at most a chunk");
    while (sink.writableLength <= 2000) await flushed(sink);
    const stuck = sink.frames().length;
    b.publish("job", "x", {});
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(sink.frames().length, stuck, "nothing more while the socket holds more than maxBufferedBytes");
    assert.equal(sink.ended, false, "a slow reader within the history is not cut off");
    sink.take();
    while (sink.frames().length < 101) await flushed(sink);
    assert.deepEqual(sink.frames().map((f) => f[1]), Array.from({ length: 101 }, (_, i) => i + 1));
  });

  it("cuts off a subscriber that stopped reading once the history moved past it, with where to resume", async () => {
    const b = bus({ historySize: 10, maxBufferedBytes: 100, chunkBytes: 40, drainGraceMs: 5 });
    const slow = new FakeSink();
    const other = new FakeSink();
    b.subscribe(slow, {});
    b.subscribe(other, {});
    slow.stalled = true;
    const ended = once(slow, "end");
    for (let i = 1; i <= 20; i += 5) {
      for (let k = i; k < i + 5; k++) b.publish("job", String(k), {});
      await flushed(other);
    }
    await ended;
    const sent = slow.frames().slice(0, -1).map((f) => f[1]);
    assert.ok(sent.length > 0 && sent.length < 10, `it got events until its socket held more than 100 bytes (${sent.length})`);
    assert.deepEqual(sent, Array.from({ length: sent.length }, (_, i) => i + 1), "none skipped");
    assert.equal(slow.writes.at(-1), `event: overflow\ndata: {"reason":"more than 10 events behind","last_event_id":${sent.at(-1)}}\n\n`);
    await once(slow, "close");
    assert.equal(slow.destroyed, true, "destroyed when it does not drain in time");
    assert.deepEqual(other.frames().map((f) => f[1]), Array.from({ length: 20 }, (_, i) => i + 1), "the others go on");
    assert.equal(b.subscriberCount, 1);
  });

  it("keeps idle streams open with a comment line that moves a filtered stream's id past what it passed over", async () => {
    const b = bus({ heartbeatMs: 5 });
    const sink = new FakeSink();
    b.subscribe(sink, { kinds: new Set(["node"]) });
    b.publish("job", "1", {});
    while (!sink.writes.includes(": keepalive\nid: 1\n\n")) await flushed(sink);
    assert.deepEqual(sink.frames(), [], "no event: the job is not for this filter");
  });

  it("ends every stream on close and refuses new ones", () => {
    const b = bus();
    const sink = new FakeSink();
    b.subscribe(sink, {});
    b.publish("job", "1", {});
    b.close();
    assert.deepEqual(sink.frames(), [["job", 1]], "what was queued goes out first");
    assert.equal(sink.ended, true);
    const late = new FakeSink();
    b.subscribe(late, {});
    assert.equal(late.ended, true);
    assert.equal(b.subscriberCount, 0);
  });

  it("sends the same stream in gzip, compressing each piece once for every subscriber", async () => {
    const b = bus();
    const plain = new FakeSink();
    const zipped = [new FakeSink(), new FakeSink()];
    b.subscribe(plain, {});
    for (const z of zipped) b.subscribe(z, {}, { gzip: true });
    for (let i = 0; i < 50; i++) b.publish("job", String(i), { i, pad: "y".repeat(i) });
    await flushed(plain);
    assert.ok(zipped[0].raw[1] === zipped[1].raw[1], "the same compressed buffer for both");
    const late = new FakeSink();
    b.subscribe(late, {}, { resumeAfter: 10, gzip: true });
    b.close();
    for (const z of zipped) assert.equal(gunzipSync(Buffer.concat(z.raw)).toString(), plain.text, "a complete gzip stream, trailer included");
    assert.equal(gunzipSync(Buffer.concat(late.raw)).toString(), plain.text.slice(plain.text.indexOf("id: 11\n")));
    const unused = new FakeSink();
    b.subscribe(unused, {}, { gzip: true });
    assert.equal(gunzipSync(Buffer.concat(unused.raw)).toString(), "", "a stream refused at once is a valid empty one");
  });

  it("forgets a subscriber whose connection closed", () => {
    const b = bus();
    const sink = new FakeSink();
    b.subscribe(sink, {});
    sink.destroy();
    assert.equal(b.subscriberCount, 0);
  });
});
