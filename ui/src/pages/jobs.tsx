// The jobs: a live list, and one job with its opcodes, results and log.

import { JobLog, JobSummary, Section, Status, time } from "../components.tsx";
import { useJob, type ClusterView } from "../live.ts";

export function JobsPage({ view }: { view: ClusterView }) {
  const jobs = [...view.jobs.values()].sort((a, b) => b.id - a.id);
  return (
    <Section title="Jobs">
      <table id="jobs">
        <thead><tr><th>Job</th><th>Summary</th><th>Status</th><th>Received</th></tr></thead>
        <tbody>{jobs.map((j) => <JobSummary key={j.id} job={j} />)}</tbody>
      </table>
    </Section>
  );
}

export function JobPage({ id }: { id: number }) {
  const { job, log, error } = useJob(id);
  if (error) return <p class="error">{error}</p>;
  if (!job) return <p class="muted">Loading job {id}…</p>;
  return (
    <div>
      <h2>Job {job.id} <Status value={job.status} /></h2>
      <dl class="facts">
        <dt>Summary</dt><dd>{job.summary.join(", ")}</dd>
        <dt>Received</dt><dd>{time(job.received_ts)}</dd>
        <dt>Started</dt><dd>{time(job.start_ts)}</dd>
        <dt>Ended</dt><dd>{time(job.end_ts)}</dd>
      </dl>
      <Section title="Opcodes">
        <table>
          <thead><tr><th>Opcode</th><th>Status</th><th>Result</th></tr></thead>
          <tbody>
            {job.ops.map((op, i) => (
              <tr key={i}>
                <td>{String(op.OP_ID)}</td>
                <td><Status value={job.opstatus[i] ?? ""} /></td>
                <td><code>{JSON.stringify(job.opresult[i] ?? null)}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Log">
        <JobLog log={log} />
      </Section>
    </div>
  );
}
