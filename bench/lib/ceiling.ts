// The bare Node HTTPS ceiling: the least a Node process can do to answer GET /2/info — the
// same certificate, TLS settings, headers and body bytes as Corral, and nothing else (no
// routing, no authentication, no JSON). Corral's share of this is what its own code costs.
//
//   node bench/lib/ceiling.ts --port 15081 --pem DATA_DIR/rapi.pem --body FILE --server Corral/0.1.0

import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    pem: { type: "string" },
    body: { type: "string" },
    server: { type: "string", default: "Corral" },
  },
  strict: true,
});
if (!values.port || !values.pem || !values.body) throw new Error("--port, --pem and --body are required");
const pem = readFileSync(values.pem, "utf8");
const body = readFileSync(values.body);
const headers = { "Content-Type": "application/json", "Content-Length": body.length, Server: values.server };

const server = createServer({ cert: pem, key: pem, minVersion: "TLSv1.2" }, (req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 5_000;
server.listen(Number(values.port), "127.0.0.1", () => {
  const address = server.address();
  process.stderr.write(`ceiling listening on ${typeof address === "object" && address ? address.port : values.port}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
