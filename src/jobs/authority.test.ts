import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Opcode } from "../model/opcode.ts";
import type { Grant } from "../model/tokens.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { uncoveredObject } from "./authority.ts";
import type { LockRequest } from "./locks.ts";

const obj = (uuid: string, name: string, tags: string[] = []) => [uuid, { uuid, name, tags }] as const;
const snap = {
  serial: 1,
  cluster: { name: "cluster.test", tags: [] },
  instances: new Map([obj("i-web", "web1", ["team:web"]), obj("i-db", "db1")]),
  nodes: new Map([obj("n-1", "node1"), obj("n-2", "node2")]),
  groups: new Map([obj("g-1", "default")]),
  networks: new Map(),
  filters: new Map(),
} as unknown as ConfigSnapshot;

const op = (OP_ID: string, params: Record<string, unknown> = {}) => ({ OP_ID, ...params }) as Opcode;
const shared = { cluster: { names: "all", mode: "shared" } } as const;
const onInstance = (uuid: string, nodes: string[] | "all", nodeMode: "shared" | "exclusive" = "shared"): LockRequest => ({
  ...shared,
  instance: { names: [uuid], mode: "exclusive" },
  node: { names: nodes, mode: nodeMode },
});
const webWriter: Grant[] = [{ access: "write", kind: "instance", tags: ["team:web"] }, { access: "read", kind: "node" }];

describe("uncoveredObject: the objects a job locks, against a token's grants", () => {
  it("needs write on the instance an instance opcode locks exclusive, and read on its nodes", () => {
    const start = op("OP_INSTANCE_STARTUP", { instance_name: "web1" });
    assert.equal(uncoveredObject(webWriter, start, onInstance("i-web", ["n-1"]), snap), undefined);
    assert.equal(uncoveredObject(webWriter, op("OP_INSTANCE_STARTUP", { instance_name: "db1" }), onInstance("i-db", ["n-1"]), snap), "instance db1");
    assert.equal(uncoveredObject([webWriter[0]], start, onInstance("i-web", ["n-1"]), snap), "node node1", "its nodes need read");
    assert.equal(uncoveredObject([{ access: "read", kind: "*" }], start, onInstance("i-web", ["n-1"]), snap), "instance web1", "read is not write");
  });

  it("needs an unrestricted grant for a level locked whole", () => {
    const req = onInstance("i-web", "all");
    assert.equal(uncoveredObject(webWriter, op("OP_BACKUP_EXPORT", { instance_name: "web1" }), req, snap), undefined);
    assert.equal(uncoveredObject([webWriter[0], { access: "read", kind: "node", names: ["node1", "node2"] }], op("OP_BACKUP_EXPORT", { instance_name: "web1" }), req, snap), "all nodes");
  });

  it("checks what the opcode names even when it locks nothing of it yet (creation)", () => {
    const create = op("OP_INSTANCE_CREATE", { instance_name: "web9" });
    const req: LockRequest = { ...shared, node: { names: ["n-1"], mode: "exclusive" } };
    assert.equal(uncoveredObject(webWriter, create, req, snap), "instance web9", "a tag selector never covers an object that does not exist");
    assert.equal(uncoveredObject([{ access: "write", kind: "instance", names: ["web9"] }, { access: "read", kind: "node" }], create, req, snap), undefined);
    const multi = op("OP_INSTANCE_MULTI_ALLOC", { instances: [{ instance_name: "web9" }, { instance_name: "db9" }] });
    assert.equal(uncoveredObject([{ access: "write", kind: "instance", names: ["web9"] }, { access: "read", kind: "node" }], multi, { ...shared, node: { names: "all", mode: "shared" } }, snap), "instance db9");
  });

  it("applies opcode families to every object of the opcode", () => {
    const onlyStart: Grant[] = [{ access: "write", kind: "instance", opcodes: ["OP_INSTANCE_STARTUP"] }, { access: "read", kind: "node" }];
    assert.equal(uncoveredObject(onlyStart, op("OP_INSTANCE_STARTUP", { instance_name: "db1" }), onInstance("i-db", ["n-1"]), snap), undefined);
    assert.equal(uncoveredObject(onlyStart, op("OP_INSTANCE_REMOVE", { instance_name: "db1" }), onInstance("i-db", ["n-1"]), snap), "instance db1");
  });

  it("tags: write on the tagged object; the cluster's own tags need write on the cluster", () => {
    const setWeb = op("OP_TAGS_SET", { kind: "instance", name: "web1", tags: ["x"] });
    assert.equal(uncoveredObject(webWriter, setWeb, { ...shared, instance: { names: ["i-web"], mode: "exclusive" } }, snap), undefined);
    const setCluster = op("OP_TAGS_SET", { kind: "cluster", name: null, tags: ["x"] });
    assert.equal(uncoveredObject(webWriter, setCluster, shared, snap), "cluster cluster.test");
    assert.equal(uncoveredObject([{ access: "read", kind: "cluster" }], setCluster, shared, snap), "cluster cluster.test");
    assert.equal(uncoveredObject([{ access: "write", kind: "cluster" }], setCluster, shared, snap), undefined);
  });

  it("a node opcode needs write on its node; moving nodes between groups, write on the groups", () => {
    const nodeWriter: Grant[] = [{ access: "write", kind: "node" }];
    const role = op("OP_NODE_SET_PARAMS", { node_name: "node2" });
    assert.equal(uncoveredObject(nodeWriter, role, { ...shared, node: { names: ["n-2"], mode: "exclusive" } }, snap), undefined);
    const assign = op("OP_GROUP_ASSIGN_NODES", { group_name: "default", nodes: ["node2"] });
    const req: LockRequest = { ...shared, nodegroup: { names: ["g-1"], mode: "exclusive" }, node: { names: ["n-2"], mode: "exclusive" } };
    assert.equal(uncoveredObject(nodeWriter, assign, req, snap), "group default");
    assert.equal(uncoveredObject([...nodeWriter, { access: "write", kind: "group" }], assign, req, snap), undefined);
  });
});
