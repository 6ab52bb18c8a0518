// How admin commands reach the master's RAPI: URL, user and password (from a file or the
// environment rather than the command line, where other users could read it), and which
// certificate to trust.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { certificatesOf, RapiClient } from "../client/rapi.ts";
import { defaultDataDir } from "../master/datadir.ts";

/** parseArgs option declarations every admin command accepts. */
export const CONNECTION_OPTIONS = {
  rapi: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  ca: { type: "string" },
  insecure: { type: "boolean" },
  "data-dir": { type: "string" },
} as const;

export const CONNECTION_USAGE = `Connection options (admin commands):
      --rapi URL               the master's RAPI (default $CORRAL_RAPI_URL or https://localhost:5080)
      --user NAME              RAPI user with write access (default $CORRAL_RAPI_USER or admin)
      --password-file FILE     file whose first line is the password (or $CORRAL_RAPI_PASSWORD)
      --password PASSWORD      the password itself (visible to other users of this machine)
      --ca FILE                certificate to trust (default DATA_DIR/rapi.pem when it exists)
      --insecure               do not check the master's certificate
      --data-dir DIR           the master's data directory (default ${defaultDataDir()})
`;

export interface ConnectionValues {
  rapi?: string;
  user?: string;
  password?: string;
  "password-file"?: string;
  ca?: string;
  insecure?: boolean;
  "data-dir"?: string;
}

/** The client the flags describe; throws with a message for the operator when they don't add up. */
export function connect(v: ConnectionValues, env: NodeJS.ProcessEnv = process.env): RapiClient {
  const url = v.rapi ?? env.CORRAL_RAPI_URL ?? "https://localhost:5080";
  let password = v.password ?? env.CORRAL_RAPI_PASSWORD;
  if (v["password-file"] !== undefined) {
    password = readFileSync(v["password-file"], "utf8").split("\n")[0].replace(/\r$/, "");
  }
  if (password === undefined) throw new Error("no RAPI password: give --password-file FILE (or set CORRAL_RAPI_PASSWORD)");
  let ca: string | undefined;
  const caFile = v.ca ?? join(v["data-dir"] ?? defaultDataDir(), "rapi.pem");
  if (!v.insecure && url.startsWith("https:") && (v.ca !== undefined || existsSync(caFile))) {
    ca = certificatesOf(readFileSync(caFile, "utf8"));
  }
  return new RapiClient({ url, user: v.user ?? env.CORRAL_RAPI_USER ?? "admin", password, ca, insecure: v.insecure === true });
}
