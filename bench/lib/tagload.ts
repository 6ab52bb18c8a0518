// A job load for bench/ha.ts's kills: `clients` clients submit cluster tag jobs without pause,
// each round-robin over the masters running now (a standby forwards its share to the leader);
// a request that fails (a killed master, no leader yet) is counted and retried after 20 ms.
// Tags cycle through 64 a client: Ganeti's 4096 tags an object would otherwise run out.

import { Client, sleep, type Target } from "./http.ts";

const TAGS_PER_CLIENT = 64;

export class TagLoad {
  /** Job ids acknowledged (200 with an id), in the order they came. */
  readonly acked: number[] = [];
  /** Answers other than 200, by status or error. */
  readonly refused: Record<string, number> = {};
  private targets: Target[] = [];
  private readonly conns = new Map<string, Client>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(clients: number, tagPrefix: string) {
    for (let c = 0; c < clients; c++) this.loops.push(this.loop(c, `${tagPrefix}c${c}-`));
  }

  /** The masters to send to from now on (a killed one is left out, a restarted one put back). */
  setTargets(targets: readonly Target[]): void {
    this.targets = [...targets];
    for (const [base, conn] of this.conns) {
      if (!targets.some((t) => t.base === base)) {
        conn.close();
        this.conns.delete(base);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const conn of this.conns.values()) conn.close();
    this.conns.clear();
  }

  /** Each acknowledged job's status on `leader` once final, counted; throws for one not found. */
  async finalStatuses(leader: Target, deadline: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const conn = new Client(leader, 8);
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < this.acked.length) {
            const id = this.acked[next++];
            for (;;) {
              const job = (await conn.json("GET", `/2/jobs/${id}`)) as { status: string };
              if (["success", "error", "canceled"].includes(job.status)) {
                out[job.status] = (out[job.status] ?? 0) + 1;
                break;
              }
              if (Date.now() > deadline) throw new Error(`load job ${id} still ${job.status}`);
              await sleep(20);
            }
          }
        }),
      );
    } finally {
      conn.close();
    }
    return out;
  }

  private async loop(c: number, tagPrefix: string): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const target = this.targets[(c + n) % Math.max(1, this.targets.length)];
      if (target === undefined) {
        await sleep(20);
        continue;
      }
      let conn = this.conns.get(target.base);
      if (conn === undefined) this.conns.set(target.base, (conn = new Client(target, 1)));
      const r = await conn.request("PUT", `/2/tags?tag=${tagPrefix}${n % TAGS_PER_CLIENT}`, undefined, 15_000).catch((err: Error) => err);
      if (!(r instanceof Error) && r.status === 200) {
        this.acked.push(Number(JSON.parse(r.text)));
        continue;
      }
      const why = r instanceof Error ? ((r as NodeJS.ErrnoException).code ?? r.message.slice(0, 40)) : String(r.status);
      this.refused[why] = (this.refused[why] ?? 0) + 1;
      await sleep(20);
    }
  }
}
