// `corral master --store …`: what the options parse to, what they refuse, and that the TLS
// files reach the etcd client: a real etcd with client certificate authentication (openssl
// makes a CA, a server and a client certificate) answers a client built from the options,
// and refuses one without the client certificate.

import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EtcdClient } from "../store/etcd/client.ts";
import { freePort } from "../../test/support/etcd.ts";
import { requireTools } from "../../test/support/tools.ts";
import { storeChoice } from "./store.ts";

describe("--store options", () => {
  const read = (file: string) => Buffer.from(`contents of ${file}`);

  it("defaults to sqlite and parses etcd members", () => {
    assert.deepEqual(storeChoice({}), { kind: "sqlite" });
    assert.deepEqual(storeChoice({ store: "etcd://10.0.0.1:2379,e2.example:2379,[::1]:2379" }), { kind: "etcd", endpoints: ["10.0.0.1:2379", "e2.example:2379", "[::1]:2379"] });
    const tls = storeChoice({ store: "etcd://e1:2379", "etcd-ca-file": "ca", "etcd-cert-file": "crt", "etcd-key-file": "key" }, read);
    assert.deepEqual(tls, { kind: "etcd", endpoints: ["e1:2379"], tls: { ca: read("ca"), cert: read("crt"), key: read("key") } });
    assert.deepEqual(storeChoice({ store: "etcd://e1:2379", "etcd-compact-interval": "0" }), { kind: "etcd", endpoints: ["e1:2379"], compactIntervalMs: 0 });
    assert.deepEqual(storeChoice({ store: "etcd://e1:2379", "etcd-compact-interval": "600" }), { kind: "etcd", endpoints: ["e1:2379"], compactIntervalMs: 600_000 });
  });

  it("refuses what it cannot use, saying what is wrong", () => {
    assert.throws(() => storeChoice({ store: "zookeeper://z:2181" }), /--store needs 'sqlite' or 'etcd:\/\/HOST:PORT/);
    assert.throws(() => storeChoice({ store: "etcd://" }), /'' is not HOST:PORT/);
    assert.throws(() => storeChoice({ store: "etcd://e1" }), /'e1' is not HOST:PORT/);
    assert.throws(() => storeChoice({ "etcd-ca-file": "ca" }), /--etcd-ca-file goes with --store etcd/);
    assert.throws(() => storeChoice({ "etcd-compact-interval": "60" }), /--etcd-compact-interval goes with --store etcd/);
    assert.throws(() => storeChoice({ store: "etcd://e1:2379", "etcd-compact-interval": "5m" }), /needs whole seconds \(0: never\), not '5m'/);
    assert.throws(() => storeChoice({ store: "etcd://e1:2379", "etcd-cert-file": "c", "etcd-ca-file": "ca" }, read), /go together/);
    assert.throws(() => storeChoice({ store: "etcd://e1:2379", "etcd-cert-file": "c", "etcd-key-file": "k" }, read), /needs --etcd-ca-file/);
    assert.throws(() => storeChoice({ store: "etcd://e1:2379", "etcd-ca-file": "/nonexistent/ca.pem" }), /--etcd-ca-file: cannot read \/nonexistent\/ca.pem/);
  });
});

const tlsNeeds = requireTools({ tools: ["etcd", "openssl"] });

tlsNeeds.describe("--store etcd:// with TLS client certificates (a real etcd with --client-cert-auth)", () => {
  let dir: string;
  let etcd: ChildProcess | undefined;
  let endpoint: string;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "corral-etcd-tls-"));
    const openssl = (...args: string[]) => execFileSync(tlsNeeds.path("openssl"), args, { cwd: dir, stdio: "pipe" });
    const key = (name: string) => openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", `${name}.key`);
    key("ca");
    openssl("req", "-x509", "-new", "-key", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=corral-test-ca");
    for (const [name, usage] of [["server", "serverAuth"], ["client", "clientAuth"]]) {
      key(name);
      openssl("req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
      writeFileSync(file(`${name}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
    }
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    endpoint = `127.0.0.1:${clientPort}`;
    const log = openSync(file("etcd.log"), "a");
    try {
      etcd = spawn(tlsNeeds.path("etcd"), [
        "--name=tls", `--data-dir=${file("data")}`,
        `--listen-client-urls=https://${endpoint}`, `--advertise-client-urls=https://${endpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=tls=http://127.0.0.1:${peerPort}`,
        `--cert-file=${file("server.pem")}`, `--key-file=${file("server.key")}`,
        "--client-cert-auth", `--trusted-ca-file=${file("ca.pem")}`, "--log-level=warn", "--logger=zap",
      ], { stdio: ["ignore", log, log] });
    } finally {
      closeSync(log);
    }
  });
  after(async () => {
    const child = etcd;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(child.pid as number, "SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("reaches etcd over https with the client certificate the options name, and is refused without it", async () => {
    const choice = storeChoice({ store: `etcd://${endpoint}`, "etcd-ca-file": file("ca.pem"), "etcd-cert-file": file("client.pem"), "etcd-key-file": file("client.key") });
    assert.equal(choice.kind, "etcd");
    if (choice.kind !== "etcd") return;
    const client = new EtcdClient(choice);
    try {
      // etcd may still be starting: a bounded wait for its first answer.
      let written = false;
      for (let i = 0; i < 100 && !written; i++) {
        written = await client.etcd.kv.put({ key: Buffer.from("/tls/probe"), value: Buffer.from("over tls") }).then(() => true, async () => {
          await new Promise((r) => setTimeout(r, 100));
          return false;
        });
      }
      assert.ok(written, "a put over TLS with the client certificate");
      assert.equal((await client.etcd.get("/tls/probe").string()), "over tls");
    } finally {
      client.close();
    }
    const withoutCert = storeChoice({ store: `etcd://${endpoint}`, "etcd-ca-file": file("ca.pem") });
    if (withoutCert.kind !== "etcd") return;
    const refused = new EtcdClient({ ...withoutCert, callTimeoutMs: 1000 });
    try {
      await assert.rejects(refused.etcd.kv.put({ key: Buffer.from("/tls/anonymous"), value: Buffer.from("x") }));
    } finally {
      refused.close();
    }
  });
});
