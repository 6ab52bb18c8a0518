// The HTTP core: a request goes to the mount that owns its path; transport refusals and
// unexpected failures are answered in that mount's format; handlers wait at the gates.
import assert from "node:assert/strict";
import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createHttpCore, type MountedApi } from "./core.ts";

/** A mount that answers `{api, path}`; "/boom" throws, "/slow" holds its gate place 300 ms. */
function mount(name: string, prefix: string, active: { now: number; most: number }): MountedApi {
  const reply = (res: import("node:http").ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  return {
    owns: (path) => path.startsWith(prefix),
    async serve(req, res, t) {
      const path = req.url ?? "/";
      if (path.endsWith("/boom")) throw new Error("boom");
      await t.gate(true).run(async () => {
        active.most = Math.max(active.most, ++active.now);
        if (path.endsWith("/slow")) await new Promise((r) => setTimeout(r, 300));
        active.now--;
      });
      reply(res, 200, { api: name, path });
    },
    refuse: (_req, res, err) => reply(res, err.code, { api: name, refused: err.message }),
  };
}

describe("the HTTP core", () => {
  let server: Server;
  let port = 0;
  const active = { now: 0, most: 0 };
  const logged: string[] = [];
  before(async () => {
    server = createHttpCore({ mounts: [mount("pvc", "/api/v1", active), mount("rapi", "/", active)], maxClients: 2, serverHeader: "test", log: (l) => logged.push(l) });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const get = (path: string, headers: [string, string][] = []) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      // Raw headers (a flat list) keep a repeated Host; otherwise Node adds the one Host itself.
      const raw = headers.length > 0 ? { headers: headers.flat() } : {};
      const req = request({ port, path, ...raw }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on("error", reject);
      req.end();
    });

  it("sends each request to the mount that owns its path", async () => {
    assert.deepEqual((await get("/api/v1/vm")).body, { api: "pvc", path: "/api/v1/vm" });
    assert.deepEqual((await get("/2/info")).body, { api: "rapi", path: "/2/info" });
  });

  it("refuses two Host headers, and answers a failure, in the owning mount's format", async () => {
    const twice = await get("/api/v1/vm", [["Host", "a"], ["Host", "b"]]);
    assert.deepEqual(twice, { status: 400, body: { api: "pvc", refused: "More than one Host header" } });
    const boom = await get("/2/boom");
    assert.equal(boom.status, 500);
    assert.equal(boom.body.api, "rapi");
    assert.match(logged.join("\n"), /internal error answering GET \/2\/boom: boom/);
  });

  it("runs at most maxClients handlers of a gate at once", async () => {
    active.most = 0;
    await Promise.all([...Array(6).keys()].map(() => get("/2/slow")));
    assert.equal(active.most, 2);
  });
});
