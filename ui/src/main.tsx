// The web console: a Preact app of four pages (cluster, instance, jobs with one job, console)
// chosen by the URL's fragment, so the master serves one page and the browser's back button
// works. Logging in is the only thing it does before it reads the cluster.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { logout, whoami, type SessionInfo } from "./api.ts";
import { cluster, useCluster } from "./live.ts";
import { ClusterPage } from "./pages/cluster.tsx";
import { ConsolePage } from "./pages/console.tsx";
import { InstancePage } from "./pages/instance.tsx";
import { JobPage, JobsPage } from "./pages/jobs.tsx";
import { LoginPage } from "./pages/login.tsx";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function Console({ session, onLogout }: { session: SessionInfo; onLogout: () => void }) {
  const view = useCluster();
  const hash = useHash();
  const path = hash.replace(/^#/, "") || "/";
  let page;
  let m: RegExpExecArray | null;
  if ((m = /^\/instances\/([^/]+)$/.exec(path))) page = <InstancePage view={view} name={decodeURIComponent(m[1])} session={session} />;
  else if ((m = /^\/jobs\/(\d+)$/.exec(path))) page = <JobPage id={Number(m[1])} />;
  else if (path === "/jobs") page = <JobsPage view={view} />;
  else if ((m = /^\/console\/([^/]+)\/(vnc|serial)$/.exec(path)) && session.write) page = <ConsolePage name={decodeURIComponent(m[1])} kind={m[2] as "vnc" | "serial"} />;
  else page = <ClusterPage view={view} />;
  return (
    <div>
      <header>
        <a class="brand" href="#/">Corral</a>
        <span class="cluster-name">{view.name}</span>
        <nav>
          <a href="#/">Cluster</a>
          <a href="#/jobs">Jobs</a>
        </nav>
        <span class={`live ${view.live ? "on" : "off"}`} id="live" title="event stream">{view.live ? "live" : "offline"}</span>
        <span class="user" id="user">{session.user}{session.write ? "" : " (read-only)"}</span>
        <button class="link" onClick={onLogout}>Log out</button>
      </header>
      {view.error && <p class="error">{view.error}</p>}
      <main>{page}</main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  useEffect(() => {
    whoami().then(setSession, () => setSession(null));
  }, []);
  if (session === undefined) return null;
  if (session === null) return <LoginPage onLogin={setSession} />;
  const out = async () => {
    await logout().catch(() => undefined);
    cluster.stop();
    location.hash = "";
    location.reload();
  };
  return <Console session={session} onLogout={() => void out()} />;
}

render(<App />, document.getElementById("app") as HTMLElement);
