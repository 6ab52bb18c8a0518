import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  effectiveGrants, formatGrant, GrantError, grantCovers, grantsCover, newTokenId, newTokenSecret, parseGrant, secretMatches, splitToken, validateGrants,
  type Grant,
} from "./tokens.ts";

const web = { name: "web1", tags: ["team:web", "env:prod"] };
const db = { name: "db1", tags: ["team:db"] };

describe("API token strings", () => {
  it("are corral_<id>_<secret>; only the secret's hash is kept, and only the right secret matches", () => {
    const id = newTokenId();
    const { token, secretSha256 } = newTokenSecret(id);
    const parts = splitToken(token);
    assert.ok(parts, token);
    assert.equal(parts[0], id);
    assert.ok(!token.includes(secretSha256) && !secretSha256.includes(parts[1]));
    assert.equal(secretMatches({ secret_sha256: secretSha256 }, parts[1]), true);
    assert.equal(secretMatches({ secret_sha256: secretSha256 }, parts[1].slice(0, -1) + (parts[1].endsWith("A") ? "B" : "A")), false);
    assert.equal(splitToken(`${token}x`), undefined);
    assert.equal(splitToken("corral_short_secret"), undefined);
  });
});

describe("what a grant covers", () => {
  const g = (grant: Grant) => grant;
  it("matches kind, access (write implies read), names and all tags", () => {
    const tagged = g({ access: "write", kind: "instance", tags: ["team:web"] });
    assert.equal(grantCovers(tagged, "write", "instance", web, "OP_INSTANCE_STARTUP"), true);
    assert.equal(grantCovers(tagged, "read", "instance", web, "jobs"), true);
    assert.equal(grantCovers(tagged, "write", "instance", db, "OP_INSTANCE_STARTUP"), false);
    assert.equal(grantCovers(tagged, "write", "node", web, "OP_INSTANCE_STARTUP"), false);
    assert.equal(grantCovers(g({ access: "write", kind: "instance", tags: ["team:web", "env:dev"] }), "read", "instance", web, "none"), false, "every tag");
    const reader = g({ access: "read", kind: "*" });
    assert.equal(grantCovers(reader, "read", "node", db, "none"), true);
    assert.equal(grantCovers(reader, "write", "node", db, "none"), false);
    assert.equal(grantCovers(g({ access: "read", kind: "instance", names: ["db1"] }), "read", "instance", db, "none"), true);
    assert.equal(grantCovers(g({ access: "read", kind: "instance", names: ["db1"] }), "read", "instance", web, "none"), false);
  });

  it("covers a whole kind only without names or tags", () => {
    assert.equal(grantsCover([{ access: "read", kind: "instance" }], "read", "instance", "all", "none"), true);
    assert.equal(grantsCover([{ access: "read", kind: "instance", tags: ["team:web"] }], "read", "instance", "all", "none"), false);
    assert.equal(grantsCover([{ access: "read", kind: "instance", names: ["web1"] }], "read", "instance", "all", "none"), false);
  });

  it("limits opcodes by exact id or prefix; such a grant never covers a write made outside a job", () => {
    const ops = g({ access: "write", kind: "instance", opcodes: ["OP_INSTANCE_STARTUP", "OP_BACKUP_*"] });
    assert.equal(grantCovers(ops, "write", "instance", web, "OP_INSTANCE_STARTUP"), true);
    assert.equal(grantCovers(ops, "write", "instance", web, "OP_BACKUP_EXPORT"), true);
    assert.equal(grantCovers(ops, "write", "instance", web, "OP_INSTANCE_REMOVE"), false);
    assert.equal(grantCovers(ops, "write", "instance", web, "jobs"), true);
    assert.equal(grantCovers(ops, "write", "instance", web, "none"), false);
  });

  it("lends only read when the owner has no write in the users file", () => {
    const grants: Grant[] = [{ access: "write", kind: "*" }];
    assert.deepEqual(effectiveGrants(grants, ["write"]), grants);
    assert.deepEqual(effectiveGrants(grants, ["read"]), [{ access: "read", kind: "*" }]);
    assert.deepEqual(effectiveGrants(grants, []), [{ access: "read", kind: "*" }]);
  });
});

describe("grant syntax", () => {
  it("parses and prints the CLI's compact form, tags with colons included", () => {
    const text = "write:instance:name=web1,web2:tag=team:web,env:prod:op=OP_INSTANCE_STARTUP,OP_INSTANCE_*";
    const grant = parseGrant(text);
    assert.deepEqual(grant, { access: "write", kind: "instance", names: ["web1", "web2"], tags: ["team:web", "env:prod"], opcodes: ["OP_INSTANCE_STARTUP", "OP_INSTANCE_*"] });
    assert.equal(formatGrant(grant), text);
    assert.deepEqual(parseGrant("read:*"), { access: "read", kind: "*" });
  });

  it("refuses unknown kinds, fields, accesses and malformed opcodes, saying which", () => {
    assert.throws(() => parseGrant("admin:instance"), /'access' must be/);
    assert.throws(() => parseGrant("read:vm"), /'kind' must be one of/);
    assert.throws(() => parseGrant("read:instance:owner=x"), /expected name=/);
    assert.throws(() => validateGrants([{ access: "read", kind: "node", colour: "red" }]), /grants\[0\]: unknown field 'colour'/);
    assert.throws(() => validateGrants([{ access: "read", kind: "node", opcodes: ["startup"] }]), GrantError);
    assert.throws(() => validateGrants([{ access: "read", kind: "node", tags: [] }]), /non-empty list/);
    assert.throws(() => validateGrants([]), /non-empty list of grants/);
  });
});
