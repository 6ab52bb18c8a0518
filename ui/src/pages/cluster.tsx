// The cluster at a glance: nodes with their memory, disk and CPU use and roles, instances with
// their status, node groups, and the latest jobs — all live from the event stream.

import { Bar, JobSummary, ROLES, Section, Status } from "../components.tsx";
import { instanceMemory, instanceVcpus } from "../model.ts";
import type { ClusterView } from "../live.ts";

export function ClusterPage({ view }: { view: ClusterView }) {
  const instances = [...view.instances.values()].sort((a, b) => a.name.localeCompare(b.name));
  const groupName = new Map([...view.groups.values()].map((g) => [g.uuid, g.name]));
  const vcpusOn = new Map<string, number>();
  for (const i of instances) if (i.status === "running") vcpusOn.set(i.pnode, (vcpusOn.get(i.pnode) ?? 0) + instanceVcpus(i));
  const jobs = [...view.jobs.values()].sort((a, b) => b.id - a.id).slice(0, 15);
  const running = instances.filter((i) => i.status === "running").length;
  return (
    <div>
      <div class="tiles">
        <div class="tile"><b>{view.nodes.size}</b> nodes</div>
        <div class="tile"><b>{instances.length}</b> instances</div>
        <div class="tile"><b>{running}</b> running</div>
        <div class="tile"><b>{view.groups.size}</b> groups</div>
      </div>
      <Section title="Nodes">
        <table id="nodes">
          <thead><tr><th>Node</th><th>Role</th><th>Group</th><th>Memory</th><th>Disk</th><th>CPU (vCPUs of running instances)</th><th>Instances</th></tr></thead>
          <tbody>
            {[...view.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)).map((n) => (
              <tr key={n.name} data-node={n.name}>
                <td>{n.name}</td>
                <td><span class={`role role-${n.role}`}>{ROLES[n.role] ?? n.role}</span></td>
                <td>{groupName.get(n["group.uuid"]) ?? ""}</td>
                <td><Bar label="memory" used={n.mtotal !== null && n.mfree !== null ? n.mtotal - n.mfree : null} total={n.mtotal} unit="MiB" /></td>
                <td><Bar label="disk" used={n.dtotal !== null && n.dfree !== null ? n.dtotal - n.dfree : null} total={n.dtotal} unit="MiB" /></td>
                <td><Bar label="cpu" used={vcpusOn.get(n.name) ?? 0} total={n.ctotal} unit="vCPU" /></td>
                <td>{n.pinst_cnt} primary, {n.sinst_cnt} secondary</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Instances">
        <table id="instances">
          <thead><tr><th>Instance</th><th>Status</th><th>Node</th><th>OS</th><th>Memory</th><th>vCPUs</th><th>Disks</th></tr></thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.name} data-instance={i.name}>
                <td><a href={`#/instances/${encodeURIComponent(i.name)}`}>{i.name}</a></td>
                <td><Status value={i.status} /></td>
                <td>{i.pnode}{i.snodes.length > 0 ? ` (${i.snodes.join(", ")})` : ""}</td>
                <td>{i.os}</td>
                <td>{instanceMemory(i)} MiB</td>
                <td>{instanceVcpus(i)}</td>
                <td>{i.disk_template}: {i["disk.sizes"].map((s) => `${s} MiB`).join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {instances.length === 0 && <p class="muted">No instances yet.</p>}
      </Section>
      <div class="columns">
        <Section title="Node groups">
          <table id="groups">
            <thead><tr><th>Group</th><th>Nodes</th><th>Allocation</th></tr></thead>
            <tbody>
              {[...view.groups.values()].map((g) => (
                <tr key={g.name}><td>{g.name}</td><td>{g.node_cnt}</td><td>{g.alloc_policy}</td></tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title="Recent jobs">
          <table id="recent-jobs">
            <thead><tr><th>Job</th><th>Summary</th><th>Status</th><th>Received</th></tr></thead>
            <tbody>{jobs.map((j) => <JobSummary key={j.id} job={j} />)}</tbody>
          </table>
        </Section>
      </div>
    </div>
  );
}
