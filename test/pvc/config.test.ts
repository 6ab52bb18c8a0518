// pvc-api.yaml: the manual's format, defaults, and start-up errors that name the key.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePvcConfig, PvcConfigError } from "../../src/api/pvc/config.ts";
import { pvcYaml } from "./support.ts";

const MANUAL_EXAMPLE = `---
pvc:
    debug: True
    coordinators:
      - pvc-hv1
      - pvc-hv2
      - pvc-hv3
    api:
        listen_address: "127.0.0.1"
        listen_port: "7370"
        authentication:
            enabled: False
            secret_key: "aSuperLong&SecurePasswordString"
            tokens:
                - description: "testing"
                  token: "0b2a4e5c"
        ssl:
            enabled: False
            cert_file: ""
            key_file: ""
`;

test("the manual's example configuration is read as it says", () => {
  const c = parsePvcConfig(MANUAL_EXAMPLE);
  assert.equal(c.listenAddress, "127.0.0.1");
  assert.equal(c.listenPort, 7370);
  assert.equal(c.debug, true);
  assert.deepEqual(c.coordinators, ["pvc-hv1", "pvc-hv2", "pvc-hv3"]);
  assert.equal(c.auth.enabled, false);
  assert.equal(c.auth.secretKey, "aSuperLong&SecurePasswordString");
  assert.deepEqual(c.auth.tokens, [{ description: "testing", token: "0b2a4e5c" }]);
  assert.equal(c.ssl.enabled, false);
});

test("missing listen settings default to 127.0.0.1:7370", () => {
  const c = parsePvcConfig("pvc:\n  api: {}\n");
  assert.equal(c.listenAddress, "127.0.0.1");
  assert.equal(c.listenPort, 7370);
});

test("unknown or invalid settings fail naming the key", () => {
  const cases: [string, RegExp][] = [
    ["pvc:\n  api:\n    listen_prot: 1\n", /^pvc\.api\.listen_prot: unknown key/],
    ["pvc:\n  api:\n    listen_port: http\n", /^pvc\.api\.listen_port: 'http' is not a port number/],
    ["pvc:\n  api:\n    authentication:\n      enabled: maybe\n", /^pvc\.api\.authentication\.enabled: must be True or False/],
    ["pvc:\n  api:\n    authentication:\n      enabled: True\n", /^pvc\.api\.authentication\.tokens: authentication is enabled but no token/],
    ["pvc:\n  api:\n    authentication:\n      tokens:\n        - description: x\n", /^pvc\.api\.authentication\.tokens\[0\]\.token: missing/],
    ["pvc:\n  api:\n    ssl:\n      enabled: True\n", /^pvc\.api\.ssl\.cert_file: required when ssl is enabled/],
    ["pvc:\n  coordinators: hv1\n", /^pvc\.coordinators: must be a list/],
    ["api:\n  listen_port: 1\n", /unknown key \(known: pvc\)/],
    ["pvc: [\n", /not valid YAML/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePvcConfig(text), (err: unknown) => err instanceof PvcConfigError && re.test(err.message), text);
  }
});

test("the test helper writes a valid file", () => {
  const c = parsePvcConfig(pvcYaml({ enabled: true, tokens: ["t1", "t2"] }));
  assert.equal(c.auth.tokens.length, 2);
  assert.equal(c.listenPort, 0);
});
