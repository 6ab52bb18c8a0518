// Small pieces the pages share: usage bars, status badges, times, a job's log with its
// progress bar.

import type { ComponentChildren } from "preact";
import { parseProgressLine, type JobRow, type LogEntry } from "./model.ts";

export function Bar({ used, total, unit, label }: { used: number | null; total: number | null; unit: string; label: string }) {
  if (used === null || total === null || total <= 0) return <span class="muted">–</span>;
  const percent = Math.max(0, Math.min(100, (used * 100) / total));
  const level = percent > 90 ? "high" : percent > 70 ? "mid" : "low";
  return (
    <div class="bar" title={`${label}: ${fmt(used, unit)} of ${fmt(total, unit)} used`} data-label={label}>
      <div class={`bar-fill ${level}`} style={{ width: `${percent}%` }} />
      <span class="bar-text">
        {fmt(used, unit)} / {fmt(total, unit)}
      </span>
    </div>
  );
}

function fmt(value: number, unit: string): string {
  if (unit === "MiB" && value >= 1024) return `${(value / 1024).toFixed(1)} GiB`;
  return `${Math.round(value)} ${unit}`;
}

export function Status({ value }: { value: string }) {
  const tone = value === "running" || value === "success" ? "ok" : /^ERROR|error|canceled/.test(value) ? "bad" : /down|offline/.test(value) ? "off" : "busy";
  return <span class={`status ${tone}`} data-status={value}>{value}</span>;
}

export const ROLES: Record<string, string> = { M: "master", C: "candidate", R: "regular", D: "drained", O: "offline" };

export function time(ts: [number, number] | null | undefined): string {
  if (!ts) return "";
  return new Date(ts[0] * 1000).toLocaleString();
}

export function JobSummary({ job }: { job: JobRow }) {
  return (
    <tr>
      <td><a href={`#/jobs/${job.id}`}>{job.id}</a></td>
      <td>{job.summary.join(", ")}</td>
      <td><Status value={job.status} /></td>
      <td>{time(job.received_ts)}</td>
    </tr>
  );
}

export function JobLog({ log }: { log: readonly LogEntry[] }) {
  const last = log.findLastIndex((e) => parseProgressLine(e[3]) !== null);
  const progress = last < 0 ? null : parseProgressLine(log[last][3]);
  // Its "… complete" line after the last progress line: the bar ends full.
  if (progress && log.slice(last + 1).some((e) => typeof e[3] === "string" && e[3].startsWith(`* ${progress.topic} complete`))) {
    progress.percent = 100;
  }
  return (
    <div>
      {progress && (
        <div class="progress" data-topic={progress.topic}>
          <div class="progress-label">
            {progress.topic}: {progress.percent.toFixed(1)} % <span class="muted">({progress.detail})</span>
          </div>
          <progress max={100} value={progress.percent} />
        </div>
      )}
      <pre class="log">
        {log.map((e) => (
          <div key={e[0]}>
            <span class="muted">{new Date(e[1][0] * 1000).toLocaleTimeString()}</span> {typeof e[3] === "string" ? e[3] : JSON.stringify(e[3])}
          </div>
        ))}
      </pre>
    </div>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
