// Every secret the test suite hands a master, in one place: the tests take theirs from here,
// and scripts/check-log-secrets.ts greps every log line of a whole test run for all of them
// (and for anything shaped like a bearer token). A secret a test makes up elsewhere is one the
// check cannot look for: add it here.

/** The users of the users file, with their passwords (the same as the golden captures' cluster). */
export const USERS = {
  reader: "readerpass",
  writer: "writerpass",
  admin: "adminpass",
  nobody: "nobodypass",
} as const;

/** A user the etcd masters' test adds with `corral store users put` (test/e2e/etcd-shared.test.ts). */
export const ADDED_USER = { name: "operator2", password: "added-user-passw0rd-4f1c" } as const;

/** A wrong password the audit tests try (RAPI Basic and a web console login). */
export const WRONG_PASSWORD = "Wr0ng-passw0rd-for-the-audit";
/** Secret OS parameters given to instance creations (osparams_secret). */
export const OS_SECRET = "T0p-s3cret-OS-parameter";
export const OS_SECRET_MARKER = "s3cret";
/** PVC API keys (X-Api-Key) and the PVC configuration's secret key. */
export const PVC_TOKENS = {
  auth: "5b0d4cbf-4e3a-4f59-9c2e-6a1f0e8b2d7c",
  authSecond: "second-token-value",
  audit: "pvc-audit-token-0123456789",
  hostile: "hostile-test-token-0123456789",
} as const;
export const PVC_SECRET_KEY = "a-test-secret-key-that-is-long-enough";
/** Bearer tokens Prometheus scrapes /metrics with. */
export const METRICS_TOKENS = {
  rapi: "metrics-token-0123456789abcdef",
  e2e: "e2e-metrics-token-5f3a9c1d7e2b",
} as const;

/** What a Basic Authorization header carries for `user`. */
export function basicCredentials(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString("base64");
}

/** Every fixed secret above, named, and each user's Basic credentials (right and wrong password). */
export function testSecrets(): [name: string, value: string][] {
  const users = Object.entries(USERS);
  return [
    ...users.map(([user, password]): [string, string] => [`${user}'s password`, password]),
    ...users.map(([user, password]): [string, string] => [`${user}'s Basic credentials`, basicCredentials(user, password)]),
    ...users.map(([user]): [string, string] => [`${user}'s Basic credentials with WRONG_PASSWORD`, basicCredentials(user, WRONG_PASSWORD)]),
    ["WRONG_PASSWORD", WRONG_PASSWORD],
    ["ADDED_USER's password", ADDED_USER.password],
    ["ADDED_USER's Basic credentials", basicCredentials(ADDED_USER.name, ADDED_USER.password)],
    ["OS_SECRET", OS_SECRET],
    ["OS_SECRET_MARKER", OS_SECRET_MARKER],
    ...Object.entries(PVC_TOKENS).map(([name, token]): [string, string] => [`PVC_TOKENS.${name}`, token]),
    ["PVC_SECRET_KEY", PVC_SECRET_KEY],
    ...Object.entries(METRICS_TOKENS).map(([name, token]): [string, string] => [`METRICS_TOKENS.${name}`, token]),
  ];
}

/** A Corral API token (corral_<id>_<secret>), whoever issued it: its secret part is never logged. */
export const BEARER_TOKEN_SHAPE = /corral_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}/;
