// pvc-api.yaml, in the format of PVC's API manual:
//
//   pvc:
//     debug: False
//     coordinators: [hv1, hv2, hv3]
//     api:
//       listen_address: "127.0.0.1"
//       listen_port: "7370"
//       authentication: { enabled: False, secret_key: "...", tokens: [{ description: "...", token: "..." }] }
//       ssl: { enabled: False, cert_file: "", key_file: "" }
//
// Every key is checked: an unknown key or a value of the wrong kind stops the start-up with
// an error naming the key (e.g. `pvc.api.ssl.cert_file`).

import { readFileSync } from "node:fs";
import { parse } from "yaml";

export interface PvcApiToken {
  description: string;
  token: string;
}

export interface PvcApiConfig {
  debug: boolean;
  /** Informational in Corral (PVC builds its ZooKeeper connection from it). */
  coordinators: string[];
  listenAddress: string;
  listenPort: number;
  auth: { enabled: boolean; secretKey: string | null; tokens: PvcApiToken[] };
  ssl: { enabled: boolean; certFile: string | null; keyFile: string | null };
}

export const DEFAULT_LISTEN_ADDRESS = "127.0.0.1";
export const DEFAULT_LISTEN_PORT = 7370;

export class PvcConfigError extends Error {}

type Obj = Record<string, unknown>;

function fail(key: string, why: string): never {
  throw new PvcConfigError(`${key}: ${why}`);
}

function section(value: unknown, key: string, allowed: readonly string[]): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) fail(key, "must be a mapping");
  for (const k of Object.keys(value as Obj)) {
    if (!allowed.includes(k)) fail(`${key}.${k}`, `unknown key (known: ${allowed.join(", ")})`);
  }
  return value as Obj;
}

function bool(value: unknown, key: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "boolean") return value;
  // PVC's files quote booleans now and then ("True").
  if (typeof value === "string" && /^(true|false|yes|no)$/i.test(value)) return /^(true|yes)$/i.test(value);
  return fail(key, `must be True or False, not ${JSON.stringify(value)}`);
}

function str(value: unknown, key: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return fail(key, `must be a string, not ${JSON.stringify(value)}`);
}

export function parsePvcConfig(text: string, source = "pvc-api.yaml"): PvcApiConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new PvcConfigError(`${source} is not valid YAML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  const top = section(doc, "(top level)", ["pvc"]);
  if (top.pvc === undefined) fail("pvc", "missing (the file's settings go under a top-level 'pvc' key)");
  const pvc = section(top.pvc, "pvc", ["debug", "coordinators", "api"]);
  const api = section(pvc.api, "pvc.api", ["listen_address", "listen_port", "authentication", "ssl"]);
  const auth = section(api.authentication, "pvc.api.authentication", ["enabled", "secret_key", "tokens"]);
  const ssl = section(api.ssl, "pvc.api.ssl", ["enabled", "cert_file", "key_file"]);

  let coordinators: string[] = [];
  if (pvc.coordinators !== undefined && pvc.coordinators !== null) {
    if (!Array.isArray(pvc.coordinators) || pvc.coordinators.some((c) => typeof c !== "string")) {
      fail("pvc.coordinators", "must be a list of host names");
    }
    coordinators = pvc.coordinators as string[];
  }

  const address = str(api.listen_address, "pvc.api.listen_address") ?? DEFAULT_LISTEN_ADDRESS;
  if (!/^[0-9a-fA-F.:]+$/.test(address) && !/^[A-Za-z0-9.-]+$/.test(address)) fail("pvc.api.listen_address", `'${address}' is not an address`);
  const portText = str(api.listen_port, "pvc.api.listen_port") ?? String(DEFAULT_LISTEN_PORT);
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) fail("pvc.api.listen_port", `'${portText}' is not a port number`);

  const tokens: PvcApiToken[] = [];
  if (auth.tokens !== undefined && auth.tokens !== null) {
    if (!Array.isArray(auth.tokens)) fail("pvc.api.authentication.tokens", "must be a list of {description, token}");
    (auth.tokens as unknown[]).forEach((t, i) => {
      const key = `pvc.api.authentication.tokens[${i}]`;
      const entry = section(t, key, ["description", "token"]);
      const token = str(entry.token, `${key}.token`);
      if (token === null || token === "") fail(`${key}.token`, "missing or empty (an empty token would let anyone in)");
      tokens.push({ description: str(entry.description, `${key}.description`) ?? "", token });
    });
  }
  const enabled = bool(auth.enabled, "pvc.api.authentication.enabled", false);
  const secretKey = str(auth.secret_key, "pvc.api.authentication.secret_key");
  if (enabled && tokens.length === 0) fail("pvc.api.authentication.tokens", "authentication is enabled but no token is configured");

  const sslEnabled = bool(ssl.enabled, "pvc.api.ssl.enabled", false);
  const certFile = str(ssl.cert_file, "pvc.api.ssl.cert_file") || null;
  const keyFile = str(ssl.key_file, "pvc.api.ssl.key_file") || null;
  if (sslEnabled && certFile === null) fail("pvc.api.ssl.cert_file", "required when ssl is enabled");
  if (sslEnabled && keyFile === null) fail("pvc.api.ssl.key_file", "required when ssl is enabled");

  return {
    debug: bool(pvc.debug, "pvc.debug", false),
    coordinators,
    listenAddress: address,
    listenPort: Number(portText),
    auth: { enabled, secretKey: secretKey === "" ? null : secretKey, tokens },
    ssl: { enabled: sslEnabled, certFile, keyFile },
  };
}

export function loadPvcConfig(file: string): PvcApiConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PvcConfigError(`cannot read the PVC API configuration ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parsePvcConfig(text, file);
}
