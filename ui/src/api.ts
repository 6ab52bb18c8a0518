// The console's one way to the master: JSON over fetch with the session cookie (the browser
// sends it; the page never sees it) and the session's CSRF token on every write. The paths
// are RAPI's and /corral/1's, so the page reads exactly what every other client reads.

export interface SessionInfo {
  user: string;
  write: boolean;
  read: boolean;
  csrf: string;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

let csrf = "";

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-Corral-CSRF"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const err = parsed as { message?: string; explain?: string } | null;
    throw new ApiError(res.status, err?.message || err?.explain || `${res.status} ${res.statusText}`);
  }
  return parsed as T;
}

export const get = <T>(path: string) => call<T>("GET", path);
/** Submits a write; RAPI answers with the job id. */
export const submit = (method: "PUT" | "POST" | "DELETE", path: string, body?: unknown) => call<number | string>(method, path, body);

export async function login(username: string, password: string): Promise<SessionInfo> {
  const s = await call<SessionInfo>("POST", "/ui/api/session", { username, password });
  csrf = s.csrf;
  return s;
}

export async function whoami(): Promise<SessionInfo | null> {
  try {
    const s = await call<SessionInfo>("GET", "/ui/api/session");
    csrf = s.csrf;
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function logout(): Promise<void> {
  await call("DELETE", "/ui/api/session");
  csrf = "";
}

export const enc = encodeURIComponent;
