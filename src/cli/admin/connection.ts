// Where the admin commands find the cluster: --rapi and friends, else CORRAL_RAPI_* variables,
// else the config file ($XDG_CONFIG_HOME/corral/cli.yaml, or --config). The password comes from
// a file, the environment or a prompt, never from an argument (others could read it in ps);
// so does an API token (--token-file), which then stands in for user and password.
// Without either, requests go unauthenticated: enough for reads on a Ganeti RAPI.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { certificatesOf, RapiClient } from "../../client/rapi.ts";
import { defaultDataDir } from "../../master/datadir.ts";
import { UsageError } from "./params.ts";

export interface AdminConnectionValues {
  rapi?: string;
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  ca?: string;
  insecure?: boolean;
  dataDir?: string;
  config?: string;
}

interface ConfigFile {
  rapi?: string;
  user?: string;
  "password-file"?: string;
  "token-file"?: string;
  ca?: string;
  insecure?: boolean;
}

export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "corral", "cli.yaml");
}

const KNOWN_KEYS = ["rapi", "user", "password-file", "token-file", "ca", "insecure"];

function readConfig(file: string, given: boolean): ConfigFile {
  if (!existsSync(file)) {
    if (given) throw new UsageError(`the config file ${file} does not exist`);
    return {};
  }
  const parsed: unknown = parse(readFileSync(file, "utf8"));
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`${file}: expected keys ${KNOWN_KEYS.join(", ")}`);
  const known = new Set(KNOWN_KEYS);
  const extra = Object.keys(parsed).filter((k) => !known.has(k));
  if (extra.length) throw new UsageError(`${file}: unknown key${extra.length > 1 ? "s" : ""} ${extra.join(", ")} (known: ${[...known].join(", ")})`);
  return parsed as ConfigFile;
}

const firstLine = (file: string) => readFileSync(file, "utf8").split("\n")[0].replace(/\r$/, "");

/** Reads a password from the terminal without echoing it. */
async function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let text = "";
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return resolve(text);
          if (ch === "\u0003") return reject(new UsageError("Aborted."));
          if (ch === "\u007f") text = text.slice(0, -1);
          else text += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stdin.removeAllListeners("data");
    process.stderr.write("\n");
  }
}

export async function connectAdmin(v: AdminConnectionValues, env: NodeJS.ProcessEnv = process.env): Promise<RapiClient> {
  const cfg = readConfig(v.config ?? defaultConfigFile(env), v.config !== undefined);
  const url = v.rapi ?? env.CORRAL_RAPI_URL ?? cfg.rapi ?? "https://localhost:5080";
  const tokenFile = v.tokenFile ?? env.CORRAL_RAPI_TOKEN_FILE ?? cfg["token-file"];
  const token = tokenFile !== undefined ? firstLine(tokenFile) : env.CORRAL_RAPI_TOKEN;
  if (token !== undefined && (v.user !== undefined || v.passwordFile !== undefined)) {
    throw new UsageError("an API token stands for a user and password: give --token-file or --user/--password-file, not both");
  }
  const user = v.user ?? env.CORRAL_RAPI_USER ?? cfg.user;
  const passwordFile = v.passwordFile ?? env.CORRAL_RAPI_PASSWORD_FILE ?? cfg["password-file"];
  let password = token !== undefined ? undefined : passwordFile !== undefined ? firstLine(passwordFile) : env.CORRAL_RAPI_PASSWORD;
  if (token === undefined && password === undefined && user !== undefined && process.stdin.isTTY) password = await prompt(`Password for ${user} at ${url}: `);
  const insecure = v.insecure === true || cfg.insecure === true;
  let ca: string | undefined;
  const caFile = v.ca ?? env.CORRAL_RAPI_CA ?? cfg.ca ?? join(v.dataDir ?? defaultDataDir(), "rapi.pem");
  const caGiven = v.ca !== undefined || env.CORRAL_RAPI_CA !== undefined || cfg.ca !== undefined;
  if (!insecure && url.startsWith("https:") && (caGiven || existsSync(caFile))) ca = certificatesOf(readFileSync(caFile, "utf8"));
  const credentials = token !== undefined ? { token } : password !== undefined ? { user: user ?? "admin", password } : {};
  return new RapiClient({ url, ...credentials, ca, insecure });
}

/** The global options every admin command takes (commander). */
export const CONNECTION_HELP = `
Connection (also from CORRAL_RAPI_URL, CORRAL_RAPI_USER, CORRAL_RAPI_PASSWORD_FILE,
CORRAL_RAPI_TOKEN_FILE, CORRAL_RAPI_CA, and the config file ${defaultConfigFile()} with keys
${KNOWN_KEYS.join(", ")}). Without a password or token file a terminal asks for the password.`;
