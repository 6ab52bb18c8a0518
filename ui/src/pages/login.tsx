// Logging in with a RAPI user (the users file's name and password); the master answers with a
// session cookie the page never sees.

import { useState } from "preact/hooks";
import { login, type SessionInfo } from "../api.ts";

export function LoginPage({ onLogin }: { onLogin: (s: SessionInfo) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(String(form.get("username") ?? ""), String(form.get("password") ?? "")));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" id="login" onSubmit={(e) => void submit(e)}>
      <h1>Corral</h1>
      <label>User <input name="username" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit" disabled={busy}>Log in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}
