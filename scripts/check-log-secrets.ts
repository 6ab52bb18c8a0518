// After a whole test run (scripts/test.sh): every log line every master of the run wrote
// (CORRAL_TEST_LOG_DIR, src/master/log.ts withTestRunCopy) is searched for every test secret
// (test/support/secrets.ts) and for anything shaped like a Corral API token. Prints where each
// hit is (file:line and which secret, never the secret) and fails on any; fails as well when
// there were no lines to check, so that it cannot pass by checking nothing.
//
//   node scripts/check-log-secrets.ts [DIR]    (default: $CORRAL_TEST_LOG_DIR)

import { createReadStream, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BEARER_TOKEN_SHAPE, testSecrets } from "../test/support/secrets.ts";

const dir = process.argv[2] ?? process.env.CORRAL_TEST_LOG_DIR;
if (!dir) {
  process.stderr.write("usage: check-log-secrets.ts DIR (or CORRAL_TEST_LOG_DIR)\n");
  process.exit(2);
}

const secrets = testSecrets();
const files = readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort();
let lines = 0;
const hits: string[] = [];
for (const file of files) {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(join(dir, file)), crlfDelay: Infinity })) {
    n++;
    for (const [name, value] of secrets) if (line.includes(value)) hits.push(`${file}:${n}: ${name}`);
    if (BEARER_TOKEN_SHAPE.test(line)) hits.push(`${file}:${n}: a Corral API token (corral_<id>_<secret>)`);
  }
  lines += n;
}

process.stderr.write(`log secrets check: ${lines} lines in ${files.length} files of ${dir}, ${secrets.length} secrets and the API token shape\n`);
if (lines === 0) {
  process.stderr.write("log secrets check: FAILED: no log lines to check (was CORRAL_TEST_LOG_DIR set for the run?)\n");
  process.exit(1);
}
if (hits.length > 0) {
  process.stderr.write(`log secrets check: FAILED: ${hits.length} secrets in the logs:\n${hits.map((h) => `  ${h}\n`).join("")}`);
  process.exit(1);
}
process.stderr.write("log secrets check: no secret in any line\n");
