// GET /corral/1/events against a running master, over real sockets: the order of job and
// object events and their values (equal to what RAPI answers), filters, resuming with
// Last-Event-ID, the gap when the history has moved on, cutting off a consumer that stopped
// reading, access, bad queries and HEAD.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, describe, it } from "node:test";
import { call, runJob, suiteMaster, USERS, waitJob } from "../support/cluster.ts";
import { EventStreamClient, type SseEvent } from "../support/sse.ts";

interface JobEvent {
  id: number;
  change: string;
  status: string;
  log?: [number, [number, number], string, string][];
  [field: string]: unknown;
}

interface ObjectEvent {
  kind: string;
  name: string;
  uuid: string;
  serial_no: number | null;
  change: string;
  config_serial: number;
}

const streams: EventStreamClient[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});

/** A stream, open (its headers in) before it returns: what happens next reaches it. */
async function listen(port: number, path = "/corral/1/events", o: { auth?: string; headers?: Record<string, string>; gzip?: boolean } = {}): Promise<EventStreamClient> {
  const s = new EventStreamClient({ port, path, ...o });
  streams.push(s);
  const { status } = await s.response;
  assert.equal(status, 200, s.body);
  return s;
}

const jobEvent = (e: SseEvent): JobEvent | undefined => (e.event === "job" ? (JSON.parse(e.data) as JobEvent) : undefined);
const isJobEnd = (id: number) => (e: SseEvent) => {
  const j = jobEvent(e);
  return j?.id === id && j.change === "status" && ["success", "error", "canceled"].includes(j.status);
};
const isObject = (kind: string, name: string, change?: string) => (e: SseEvent) => {
  if (e.event !== kind) return false;
  const o = JSON.parse(e.data) as ObjectEvent;
  return o.name === name && (change === undefined || o.change === change);
};

async function submit(port: number, method: string, path: string, body?: unknown): Promise<number> {
  const r = await call(port, method, path, { user: "writer", body });
  assert.equal(r.status, 200, r.text);
  return r.json as number;
}

const ids = (s: EventStreamClient) => s.events.map((e) => Number(e.lastEventId));
const frames = (events: SseEvent[]) => events.map((e) => `${e.lastEventId} ${e.event} ${e.data}`);

describe("the event stream", () => {
  const m = suiteMaster();

  it("numbers events in increasing order and tells each job's life in order, with RAPI's values", async () => {
    const s = await listen(m.port);
    const jobs = await Promise.all([1, 2, 3].map((k) => submit(m.port, "PUT", `/2/tags?tag=ev-${k}`)));
    for (const id of jobs) await s.waitFor(isJobEnd(id), `job ${id} ended`);
    const numbers = ids(s);
    assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]), `ids ${numbers.join(",")}`);
    for (const id of jobs) {
      const mine = s.data<JobEvent>("job").filter((j) => j.id === id);
      assert.deepEqual(mine.map((j) => `${j.change}:${j.status}`), ["submitted:queued", "status:running", "status:success"]);
      const rapi = (await call(m.port, "GET", `/2/jobs/${id}`)).json as Record<string, unknown>;
      for (const field of ["status", "summary", "received_ts", "start_ts", "end_ts"]) assert.deepEqual(mine.at(-1)![field], rapi[field], field);
    }
    const serials = s.data<ObjectEvent>("cluster").map((c) => c.serial_no!);
    assert.equal(serials.length, 3, "each tag job changed the cluster once");
    assert.deepEqual(serials, [serials[0], serials[0] + 1, serials[0] + 2]);
  });

  it("tells an instance's creation, tag, removal and a node's change with the new serial numbers", async () => {
    const s = await listen(m.port);
    const name = "ev1.corral.test";
    const create = await runJob(m.port, "POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}],
      os_type: "corral-marker+default", beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, ip_check: false, name_check: false, start: false,
    });
    assert.equal(create.status, "success", JSON.stringify(create.opresult));
    await s.waitFor(isJobEnd(create.id as number), "the creation ended");
    const created = s.data<ObjectEvent>("instance").filter((o) => o.name === name);
    assert.equal(created[0].change, "created");
    assert.equal(created[0].serial_no, 1);
    const instance = (await call(m.port, "GET", `/2/instances/${name}`)).json as { serial_no: number; uuid: string };
    assert.equal(created.at(-1)!.serial_no, instance.serial_no, "the last event has the serial RAPI shows");

    // Log lines: each once, in serial order, equal to the job's oplog.
    const logged = s.data<JobEvent>("job").filter((j) => j.id === create.id && j.change === "log").flatMap((j) => j.log!);
    assert.ok(logged.length > 0, "the creation logs");
    assert.deepEqual(logged, (create.oplog as unknown[][]).flat());

    const tag = await runJob(m.port, "PUT", `/2/instances/${name}/tags?tag=seen`);
    await s.waitFor(isJobEnd(tag.id as number), "the tag job ended");
    const tagged = (await call(m.port, "GET", `/2/instances/${name}`)).json as { serial_no: number };
    assert.deepEqual(s.data<ObjectEvent>("instance").at(-1), {
      kind: "instance", name, uuid: instance.uuid, serial_no: tagged.serial_no, change: "changed", config_serial: s.data<ObjectEvent>("instance").at(-1)!.config_serial,
    });
    assert.equal(tagged.serial_no, instance.serial_no + 1);

    const modify = await runJob(m.port, "POST", "/2/nodes/node1.corral.test/modify", { ndparams: { spindle_count: 2 } });
    assert.equal(modify.status, "success", JSON.stringify(modify.opresult));
    const node = await s.waitFor(isObject("node", "node1.corral.test", "changed"), "the node's change");
    const nodeNow = (await call(m.port, "GET", "/2/nodes/node1.corral.test")).json as { serial_no: number };
    assert.equal((JSON.parse(node.data) as ObjectEvent).serial_no, nodeNow.serial_no);

    const remove = await runJob(m.port, "DELETE", `/2/instances/${name}`);
    assert.equal(remove.status, "success");
    const removed = await s.waitFor(isObject("instance", name, "removed"), "the removal");
    assert.deepEqual({ ...(JSON.parse(removed.data) as ObjectEvent), config_serial: 0 }, { kind: "instance", name, uuid: instance.uuid, serial_no: null, change: "removed", config_serial: 0 });
    // The object event comes between the job's running and its end.
    const order = s.events.filter((e) => e === removed || jobEvent(e)?.id === remove.id).map((e) => jobEvent(e)?.status ?? e.event);
    assert.deepEqual(order, ["queued", "running", "instance", "success"]);
  });

  it("filters by kind and by name", async () => {
    const next = m.t.master.queue.highestJobId() + 1;
    const all = await listen(m.port);
    const nodes = await listen(m.port, "/corral/1/events?kinds=node");
    const named = await listen(m.port, "/corral/1/events?names=default,node1.corral.test&kinds=group");
    const oneJob = await listen(m.port, `/corral/1/events?kinds=job&names=${next}`);
    const last = await Promise.all([
      submit(m.port, "PUT", "/2/nodes/node1.corral.test/tags?tag=f"),
      submit(m.port, "PUT", "/2/groups/default/tags?tag=f"),
      submit(m.port, "PUT", "/2/tags?tag=f"),
    ]);
    for (const id of last) await all.waitFor(isJobEnd(id), `job ${id} ended`);
    await nodes.waitFor(isObject("node", "node1.corral.test"), "the node's change");
    await named.waitFor(isObject("group", "default"), "the group's change");
    await oneJob.waitFor(isJobEnd(next), `job ${next} ended`);
    assert.deepEqual(nodes.events.map((e) => e.event), ["node"]);
    assert.deepEqual(named.events.map((e) => e.event), ["group"]);
    assert.deepEqual(oneJob.data<JobEvent>("job").map((j) => j.change), ["submitted", "status", "status"]);
    assert.ok(oneJob.events.every((e) => jobEvent(e)?.id === next));
  });

  it("resumes after Last-Event-ID: across a reconnect while jobs run, nothing is lost or sent twice", async () => {
    const reference = await listen(m.port);
    const first = await listen(m.port);
    const jobs: number[] = [];
    const submitting = (async () => {
      for (let i = 0; i < 30; i++) jobs.push(await submit(m.port, "PUT", `/2/tags?tag=resume-${i % 3}`));
    })();
    await first.waitFor((e) => Number(e.lastEventId) > 0 && first.events.length >= 12, "a dozen events");
    first.close();
    await first.ended;
    const resumeFrom = first.parser.lastEventId;
    const second = await listen(m.port, "/corral/1/events?last_event_id=1", { headers: { "Last-Event-ID": resumeFrom } });
    await submitting;
    await second.waitFor(isJobEnd(jobs.at(-1)!), "the last job ended");
    await reference.waitFor(isJobEnd(jobs.at(-1)!), "the last job ended");
    const start = Number(first.events[0].lastEventId);
    const end = Number(second.events.at(-1)!.lastEventId);
    const expected = reference.events.filter((e) => Number(e.lastEventId) >= start && Number(e.lastEventId) <= end);
    assert.deepEqual(frames([...first.events, ...second.events]), frames(expected), "the header wins over the query parameter");
    for (const id of jobs) assert.ok(second.events.some(isJobEnd(id)) || first.events.some(isJobEnd(id)), `job ${id}'s end`);

    // A browser's first connect names the id in the query.
    const byQuery = await listen(m.port, `/corral/1/events?last_event_id=${resumeFrom}`);
    await byQuery.waitFor(isJobEnd(jobs.at(-1)!), "the replayed end");
    assert.deepEqual(frames(byQuery.events), frames(second.events));
  });

  it("sends the same stream in gzip to a client that accepts it", async () => {
    const plain = await listen(m.port);
    const zipped = await listen(m.port, "/corral/1/events", { gzip: true });
    assert.equal((await zipped.response).headers["content-encoding"], "gzip");
    assert.equal((await plain.response).headers["content-encoding"], undefined);
    const id = await submit(m.port, "PUT", "/2/tags?tag=zipped");
    await plain.waitFor(isJobEnd(id), "the job's end");
    await zipped.waitFor(isJobEnd(id), "the job's end, decoded");
    assert.deepEqual(frames(zipped.events), frames(plain.events));
    assert.equal(zipped.decodeError, undefined);
  });

  it("refuses a bad query with Ganeti's error body", async () => {
    for (const query of ["kinds=job,bogus", "last_event_id=abc", "last_event_id=-3", `names=${Array.from({ length: 1001 }, (_, i) => `n${i}`).join(",")}`]) {
      const r = await call(m.port, "GET", `/corral/1/events?${query}`);
      assert.equal(r.status, 400, query);
      const body = r.json as { code: number; message: string; explain: string };
      assert.equal(body.code, 400);
      assert.equal(body.explain, "Bad request syntax or unsupported method");
      assert.ok(body.message.length > 0);
    }
  });

  it("answers HEAD with the stream's headers and no body, subscribing nobody", async () => {
    const before = m.t.master.events.subscriberCount;
    const r = await call(m.port, "HEAD", "/corral/1/events");
    assert.equal(r.status, 200);
    assert.equal(r.text, "");
    assert.equal(r.headers["content-type"], "text/event-stream");
    assert.equal(r.headers["cache-control"], "no-store");
    assert.equal(r.headers["x-accel-buffering"], "no");
    assert.equal(r.headers["content-encoding"], undefined);
    const zipped = await call(m.port, "HEAD", "/corral/1/events", { headers: { "Accept-Encoding": "deflate, gzip;q=0.5" } });
    assert.equal(zipped.headers["content-encoding"], "gzip", "the coding a GET would have");
    const refused = await call(m.port, "HEAD", "/corral/1/events", { headers: { "Accept-Encoding": "gzip;q=0" } });
    assert.equal(refused.headers["content-encoding"], undefined);
    assert.equal(m.t.master.events.subscriberCount, before);
  });
});

describe("the event stream's bounded history", () => {
  const m = suiteMaster({ events: { historySize: 5 } });

  it("sends a gap event first when the id asked for is gone or unknown, then goes on", async () => {
    for (let i = 0; i < 3; i++) await waitJob(m.port, await submit(m.port, "PUT", "/2/tags?tag=gap"));
    const asked = (last: number) => [["1", 1], [String(last + 100), last + 100], ["not-a-number", null]] as const;
    for (let k = 0; k < 3; k++) {
      const last = m.t.master.events.lastEventId;
      assert.ok(last > 6);
      const [header, shown] = asked(last)[k];
      const s = await listen(m.port, "/corral/1/events", { headers: { "Last-Event-ID": header } });
      const gap = await s.waitFor((e) => e.event === "gap", `the gap after ${header} (newest ${last})`);
      assert.deepEqual(JSON.parse(gap.data), { last_event_id: shown, oldest_event_id: last - 4 });
      assert.equal(gap.lastEventId, String(m.t.master.events.lastEventId), "resuming after the gap starts at the newest id");
      const id = await submit(m.port, "PUT", "/2/tags?tag=gap");
      await s.waitFor(isJobEnd(id), "the next job's end");
      assert.equal(s.events[0], gap);
    }
  });
});

describe("a consumer that stops reading", () => {
  const m = suiteMaster({ events: { historySize: 1000, drainGraceMs: 20_000 } });

  it("gets nothing more once its socket is full, and is cut off with an overflow event as its last once the history moved past it", async () => {
    // In gzip, so the end is checked too: a last block and a trailer that decode.
    const slow = await listen(m.port, "/corral/1/events", { gzip: true });
    const steady = await listen(m.port);
    slow.pause();
    // Megabytes of events fill the sockets' kernel buffers: more than any test's jobs write.
    // Those buffers took 1,600–1,900 of these events here (and once over 2,000 in CI): the
    // history of 1,000 must move well past what they hold for the cut to come.
    const bus = m.t.master.events;
    const first = bus.lastEventId + 1;
    const count = 6000;
    for (let i = 0; i < count; i++) {
      // Random padding: gzip cannot make it small.
      const id = bus.publish("cluster", "padding", { i, pad: randomBytes(3000).toString("base64") });
      if (i % 100 === 99) await steady.waitFor((e) => Number(e.lastEventId) === id, `event ${id}`);
    }
    for (let waited = 0; bus.subscriberCount > 1; waited += 10) {
      assert.ok(waited < 20_000, "the slow consumer is cut off");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await steady.waitFor((e) => Number(e.lastEventId) === first + count - 1, "every event");
    assert.equal(steady.events.length, count);
    const resumed = new EventStreamClient({ port: m.port, headers: { "Last-Event-ID": String(first + count - 1000) } });
    streams.push(resumed);
    // Reading again: everything sent before the cut arrives, then the overflow, then the end.
    slow.resume();
    await slow.ended;
    assert.equal(slow.decodeError, undefined);
    const overflow = slow.events.at(-1)!;
    assert.equal(overflow.event, "overflow");
    const data = JSON.parse(overflow.data) as { reason: string; last_event_id: number };
    assert.match(data.reason, /more than 1000 events behind/);
    const received = slow.events.slice(0, -1).map((e) => Number(e.lastEventId));
    assert.equal(data.last_event_id, received.at(-1), "the last id it received");
    assert.deepEqual(received, Array.from({ length: received.length }, (_, i) => first + i), "none skipped before the cut");
    assert.ok(received.length < count);
    console.log(`# slow consumer received ${received.length} of ${count} before the cut`);
    assert.equal(bus.subscriberCount, 2, "the steady listener and the resumed one");
    await resumed.waitFor((e) => Number(e.lastEventId) === first + count - 1, "the rest, resuming within the history");
    assert.equal(resumed.events.length, 999);
  });
});

describe("the event stream's access", () => {
  const m = suiteMaster({ requireAuthentication: true });

  it("lets a read-only user listen and refuses a listener without credentials", async () => {
    await listen(m.port, "/corral/1/events", { auth: `reader:${USERS.reader}` });
    const r = await call(m.port, "GET", "/corral/1/events");
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { code: 401, message: "Unauthorized", explain: "No permission -- see authorization schemes" });
    const wrong = await call(m.port, "GET", "/corral/1/events", { user: { name: "reader", password: "wrong" } });
    assert.equal(wrong.status, 401);
  });
});
