import assert from "node:assert/strict";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { constantTimeEqual, ha1Password, parseUsersFile, UsersFile, verifyPassword, withHa1Passwords } from "./users.ts";

describe("users file", () => {
  it("parses like Ganeti: whole-line comments, options split on commas, last line wins", () => {
    const users = parseUsersFile([
      "# comment",
      "   # indented comment",
      "",
      "lonely",
      "alice secret#notacomment read, write",
      "bob pw write,Read,custom",
      "alice second",
    ].join("\n"));
    assert.equal(users.has("lonely"), false);
    assert.deepEqual(users.get("alice"), { name: "alice", password: "second", options: [] });
    assert.deepEqual(users.get("bob")?.options, ["write", "Read", "custom"]);
    assert.equal(parseUsersFile("carol secret#x read, write").get("carol")?.password, "secret#x");
    assert.deepEqual(parseUsersFile("carol secret#x read, write").get("carol")?.options, ["read", "write"]);
  });

  it("verifies cleartext, {CLEARTEXT} and {HA1} (schemes case-insensitive), rejects others", () => {
    assert.ok(verifyPassword("u", "pw", "pw"));
    assert.ok(verifyPassword("u", "pw", "{CLEARTEXT}pw"));
    assert.ok(verifyPassword("u", "pw", "{cleartext}pw"));
    assert.ok(verifyPassword("u", "pw", ha1Password("u", "pw")));
    assert.ok(verifyPassword("u", "pw", ha1Password("u", "pw").replace("{HA1}", "{ha1}").toUpperCase().replace("{HA1}", "{ha1}")));
    assert.equal(verifyPassword("v", "pw", ha1Password("u", "pw")), false, "HA1 binds the user name");
    assert.equal(verifyPassword("u", "pw", "{SHA}pw"), false);
    assert.equal(verifyPassword("u", "{}pw", "{}pw"), false, "a scheme must have a name");
    assert.equal(verifyPassword("u", "pw", "{CLEARTEXT}other"), false);
  });

  it("stores cleartext passwords as {HA1} that accept the same password (what etcd shares)", () => {
    const text = ["# comment", "   # indented", "carol plain read", "dave {cleartext}pw2 write,read", "erin {HA1}00ff", "frank {SHA}x", "lonely", ""].join("\n");
    const converted = withHa1Passwords(text);
    const users = parseUsersFile(converted);
    assert.equal(users.get("carol")?.password, ha1Password("carol", "plain"));
    assert.deepEqual(users.get("carol")?.options, ["read"]);
    assert.equal(users.get("dave")?.password, ha1Password("dave", "pw2"));
    assert.deepEqual(users.get("dave")?.options, ["write", "read"]);
    assert.ok(verifyPassword("dave", "pw2", users.get("dave")!.password));
    assert.equal(users.get("erin")?.password, "{HA1}00ff");
    assert.equal(users.get("frank")?.password, "{SHA}x");
    assert.ok(!converted.includes("plain") && !converted.includes("pw2"));
    assert.ok(converted.startsWith("# comment\n   # indented\n") && converted.includes("\nlonely\n"));
  });

  it("compares without leaking where strings differ", () => {
    assert.ok(constantTimeEqual("abc", "abc"));
    assert.equal(constantTimeEqual("abc", "abd"), false);
    assert.equal(constantTimeEqual("abc", "abcd"), false);
  });

  it("empties the table when the file cannot be read", () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-users-"));
    try {
      const path = join(dir, "users");
      writeFileSync(path, "a b write\n");
      const f = new UsersFile(path);
      assert.ok(f.authenticate("a", "b"));
      unlinkSync(path);
      f.reload();
      assert.equal(f.authenticate("a", "b"), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
