// PVC API authentication: static tokens from pvc-api.yaml, given per request in the
// X-Api-Key header or once to /api/v1/auth/login, which opens a session kept in a cookie
// signed with the configured secret_key. Tokens are compared whole and in constant time
// (PVC v0.5 accepted any substring of a token, which is not copied).

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { PvcApiConfig } from "./config.ts";

export const SESSION_COOKIE = "pvc_session";
/** A session lasts this long after login (PVC's Flask sessions end with the browser). */
export const SESSION_SECONDS = 12 * 3600;

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();
const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

export class PvcAuth {
  readonly enabled: boolean;
  private readonly tokenDigests: Buffer[];
  private readonly secret: Buffer;
  private readonly secure: boolean;

  constructor(cfg: PvcApiConfig, log: (line: string) => void) {
    this.enabled = cfg.auth.enabled;
    this.tokenDigests = cfg.auth.tokens.map((t) => digest(t.token));
    this.secure = cfg.ssl.enabled;
    if (cfg.auth.secretKey) this.secret = Buffer.from(cfg.auth.secretKey, "utf8");
    else {
      this.secret = randomBytes(32);
      if (this.enabled) log("PVC API: no authentication.secret_key configured; sessions end when the master restarts");
    }
  }

  /** The index of the configured token equal to `token`, or -1; every token is compared. */
  private tokenIndex(token: string): number {
    const d = digest(token);
    let found = -1;
    this.tokenDigests.forEach((t, i) => {
      if (timingSafeEqual(t, d) && found < 0) found = i;
    });
    return found;
  }

  checkToken(token: string | undefined): boolean {
    return token !== undefined && this.tokenIndex(token) >= 0;
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.secret).update(payload).digest("base64url");
  }

  /** Set-Cookie value opening a session for `token` (which must be valid). */
  sessionCookie(token: string, now = Date.now()): string {
    const id = digest(token).toString("hex").slice(0, 16);
    const payload = b64url(JSON.stringify({ t: id, exp: Math.floor(now / 1000) + SESSION_SECONDS }));
    const value = `${payload}.${this.sign(payload)}`;
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_SECONDS}${this.secure ? "; Secure" : ""}`;
  }

  clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${this.secure ? "; Secure" : ""}`;
  }

  /** Whether the Cookie header carries a valid, unexpired session of a still-configured token. */
  validSession(cookieHeader: string | undefined, now = Date.now()): boolean {
    if (!cookieHeader) return false;
    const value = cookieHeader.split(";").map((c) => c.trim()).find((c) => c.startsWith(`${SESSION_COOKIE}=`))?.slice(SESSION_COOKIE.length + 1);
    if (!value) return false;
    const dot = value.indexOf(".");
    if (dot < 0) return false;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), "base64url");
    const expected = Buffer.from(this.sign(payload), "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    let data: { t?: unknown; exp?: unknown };
    try {
      data = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { t?: unknown; exp?: unknown };
    } catch {
      return false;
    }
    if (typeof data.exp !== "number" || data.exp * 1000 < now) return false;
    return this.tokenDigests.some((d) => d.toString("hex").slice(0, 16) === data.t);
  }
}

/** The login form GET /api/v1/auth/login shows (PVC's: one token field, POSTed back). */
export const LOGIN_FORM = `<!DOCTYPE html>
<html><head><title>PVC API login</title></head>
<body>
<form method="post" action="/api/v1/auth/login">
<p><label for="token">API token</label> <input type="text" id="token" name="token" autocomplete="off"></p>
<p><input type="submit" value="Log in"></p>
</form>
</body></html>
`;
