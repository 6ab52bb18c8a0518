// One instance: its details, disks and NICs, the buttons that submit its jobs (for users with
// write access only; the master refuses the others' writes anyway), the log of the job last
// submitted here, live, with the migration's progress bar, and the ways to its consoles.

import { useState } from "preact/hooks";
import { enc, submit, type SessionInfo } from "../api.ts";
import { JobLog, Section, Status, time } from "../components.tsx";
import { useJob, type ClusterView } from "../live.ts";
import { instanceMemory, instanceVcpus, type InstanceRow } from "../model.ts";

interface Action {
  label: string;
  method: "PUT" | "POST" | "DELETE";
  path: string;
  /** The body, given the migration target chosen on the page ("" lets the cluster choose). */
  body?(target: string): unknown;
  confirm?: string;
  when(i: InstanceRow): boolean;
}

const ACTIONS: Action[] = [
  { label: "Start", method: "PUT", path: "/startup", when: (i) => i.admin_state !== "up" },
  { label: "Shut down", method: "PUT", path: "/shutdown", when: (i) => i.admin_state === "up" },
  { label: "Reboot", method: "POST", path: "/reboot?type=soft", when: (i) => i.admin_state === "up" },
  { label: "Migrate", method: "PUT", path: "/migrate", body: (target) => (target ? { target_node: target } : {}), when: (i) => i.admin_state === "up" },
  { label: "Remove", method: "DELETE", path: "", confirm: "Remove instance {} and its disks?", when: () => true },
];

export function InstancePage({ view, name, session }: { view: ClusterView; name: string; session: SessionInfo }) {
  const [jobId, setJobId] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [target, setTarget] = useState("");
  const job = useJob(jobId);
  const i = view.instances.get(name);
  if (!i) return <p class="muted">{view.instances.size === 0 ? "Loading…" : `No instance ${name}.`}</p>;

  const run = async (a: Action) => {
    if (a.confirm && !window.confirm(a.confirm.replace("{}", name))) return;
    setError(null);
    try {
      setJobId(Number(await submit(a.method, `/2/instances/${enc(name)}${a.path}`, a.body?.(target))));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const hasScreen = typeof i.hvparams.vnc_bind_address === "string" && i.hvparams.vnc_bind_address !== "";
  return (
    <div>
      <h2>{i.name} <Status value={i.status} /></h2>
      {session.write && (
        <div class="actions" id="actions">
          {ACTIONS.filter((a) => a.when(i)).map((a) => (
            <button key={a.label} data-action={a.label} class={a.method === "DELETE" ? "danger" : ""} onClick={() => void run(a)}>{a.label}</button>
          ))}
          {i.admin_state === "up" && (
            <select id="migrate-target" title="migration target" value={target} onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">target: {i.snodes.length > 0 ? "the secondary" : "the allocator's choice"}</option>
              {[...view.nodes.keys()].filter((n) => n !== i.pnode).map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          )}
          {i.status === "running" && hasScreen && <a class="button" data-console="vnc" href={`#/console/${enc(name)}/vnc`}>Screen</a>}
          {i.status === "running" && <a class="button" data-console="serial" href={`#/console/${enc(name)}/serial`}>Serial console</a>}
        </div>
      )}
      {error && <p class="error">{error}</p>}
      {jobId !== null && (
        <Section title={`Job ${jobId}`}>
          <p id="job-status">
            <a href={`#/jobs/${jobId}`}>Job {jobId}</a>: {job.job ? <Status value={job.job.status} /> : "submitted"}
          </p>
          <JobLog log={job.log} />
        </Section>
      )}
      <dl class="facts">
        <dt>Primary node</dt><dd>{i.pnode}</dd>
        <dt>Secondary nodes</dt><dd>{i.snodes.join(", ") || "–"}</dd>
        <dt>OS</dt><dd>{i.os}</dd>
        <dt>Network port</dt><dd>{i.network_port ?? "–"}</dd>
        <dt>Memory</dt><dd>{instanceMemory(i)} MiB</dd>
        <dt>vCPUs</dt><dd>{instanceVcpus(i)}</dd>
        <dt>Admin state</dt><dd>{i.admin_state}</dd>
        <dt>Tags</dt><dd>{i.tags.join(", ") || "–"}</dd>
        <dt>Created</dt><dd>{time([i.ctime, 0])}</dd>
        <dt>Changed</dt><dd>{time([i.mtime, 0])} (serial {i.serial_no})</dd>
      </dl>
      <div class="columns">
        <Section title="Disks">
          <table id="disks">
            <thead><tr><th>#</th><th>Name</th><th>Size</th><th>Template</th></tr></thead>
            <tbody>
              {i["disk.sizes"].map((size, n) => (
                <tr key={n}><td>{n}</td><td>{i["disk.names"][n] ?? ""}</td><td>{size} MiB</td><td>{i.disk_template}</td></tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title="NICs">
          <table id="nics">
            <thead><tr><th>#</th><th>MAC</th><th>IP</th><th>Mode</th><th>Link</th></tr></thead>
            <tbody>
              {i["nic.macs"].map((mac, n) => (
                <tr key={n}><td>{n}</td><td>{mac}</td><td>{i["nic.ips"][n] ?? ""}</td><td>{i["nic.modes"][n]}</td><td>{i["nic.links"][n]}</td></tr>
              ))}
            </tbody>
          </table>
        </Section>
      </div>
    </div>
  );
}
