// The event stream on the HTTP core alone: a stream holds no --max-clients place, and the
// server's deadlines (headers, whole request, keep-alive), shortened here to a second or less,
// do not cut a stream that lives longer than all of them.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EventStreamClient } from "../../../test/support/sse.ts";
import { EventBus } from "../../events/bus.ts";
import { createHttpCore } from "../http/core.ts";
import { rapiApi } from "../http/server.ts";
import { UsersFile } from "../http/users.ts";
import { corralEventRoutes } from "./events.ts";

describe("GET /corral/1/events on the HTTP core", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-events-http-"));
  const bus = new EventBus({ flushMs: 5 });
  let server: Server;
  let port = 0;
  before(async () => {
    writeFileSync(join(dir, "users"), "");
    const api = rapiApi({ routes: corralEventRoutes(bus), users: new UsersFile(join(dir, "users")), requireAuthentication: false });
    server = createHttpCore({ mounts: [api], maxClients: 1, serverHeader: "test", log: () => undefined });
    server.headersTimeout = 500;
    server.requestTimeout = 1000;
    server.keepAliveTimeout = 200;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    bus.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps streams open past the server's deadlines, none of them holding the one gate place", async () => {
    const streams = [0, 1, 2].map(() => new EventStreamClient({ port }));
    for (const s of streams) assert.equal((await s.response).status, 200, "a stream does not wait for the one place");
    // Past requestTimeout plus the server's one-second check interval.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const id = bus.publish("node", "n1", { late: true });
    for (const s of streams) {
      const e = await s.waitFor((x) => x.event === "node", "published after the deadlines");
      assert.equal(e.lastEventId, String(id));
      s.close();
    }
  });
});
