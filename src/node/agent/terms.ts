// The newest master this agent obeys (issue 17). A leading master sends its term (the store
// whose leadership it holds, and its epoch there) with every call. The agent keeps the newest
// term it has seen in its state dir, on disk before the call that brought it runs, and refuses
// orders (calls.ts: CALL_KINDS) carrying an older one: a master that was fenced out gives no
// more orders, even to an agent restarted since. Reads pass from any master, standbys included.
//
// An epoch only grows within one store. A term of another store is a cluster moved to a new
// store (SQLite → etcd, whose revisions start low): adopted, logged, and the old store is
// remembered as left, so its masters are refused from then on. Removing the file (agent
// stopped) is the reset for what this cannot tell (a database restored from an older backup).

import { join } from "node:path";
import { callKind, type MasterTerm, type RpcCall } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { KeyedMutex } from "../util/lock.ts";
import { readJson, writeJsonAtomic } from "../util/fsutil.ts";

/** The file, in the agent's state dir. */
export const TERM_FILE = "master-term.json";

/** Stores left behind, kept so their masters stay refused (a few moves in a cluster's life). */
const MAX_LEFT = 16;

interface KeptTerm extends MasterTerm {
  /** When the agent adopted this term (ISO 8601). */
  since: string;
}

interface TermFile {
  current: KeptTerm | null;
  left: { store: string; epoch: number; at: string }[];
}

const EMPTY: TermFile = { current: null, left: [] };

export class TermKeeper {
  readonly file: string;
  private readonly nodeName: string;
  private readonly log: (line: string) => void;
  private readonly lock = new KeyedMutex();

  constructor(stateDir: string, nodeName: string, log: (line: string) => void) {
    this.file = join(stateDir, TERM_FILE);
    this.nodeName = nodeName;
    this.log = log;
  }

  /** The term obeyed now, as on disk (null before any master sent one). */
  async current(): Promise<KeptTerm | null> {
    return (await this.read()).current;
  }

  /**
   * Lets the call run, or throws the refusal the master's job shows. A newer term is written
   * to disk before this resolves. Read from disk at every call with a term (or order without
   * one): another agent process on the same state dir may have moved it on.
   */
  async admit(call: RpcCall, args: object, term: MasterTerm | undefined): Promise<void> {
    const order = callKind(call, args) === "order";
    if (term === undefined && !order) return;
    await this.lock.run("term", async () => {
      const kept = await this.read();
      const cur = kept.current;
      if (term === undefined) {
        // Only an agent that never obeyed a term takes orders without one (tools, tests of the agent).
        if (cur) throw this.refusal(`orders from a master that sends no term: it obeys term ${cur.epoch} of store ${cur.store} since ${cur.since}`);
        return;
      }
      if (cur === null || (term.store === cur.store && term.epoch > cur.epoch)) {
        await this.adopt(kept, term, []);
        return;
      }
      if (term.store === cur.store) {
        if (term.epoch < cur.epoch && order) {
          throw this.refusal(`orders from a master of term ${term.epoch}: it obeys term ${cur.epoch} since ${cur.since}; this master was fenced out`);
        }
        return;
      }
      const left = kept.left.find((l) => l.store === term.store);
      if (left) {
        if (order) {
          throw this.refusal(`orders from a master of store ${term.store} (term ${term.epoch}): the cluster left that store for store ${cur.store} at ${left.at} (it obeys term ${cur.epoch} since ${cur.since}); this master was fenced out`);
        }
        return;
      }
      this.log(`node ${this.nodeName}: a master of store ${term.store} (term ${term.epoch}) replaces store ${cur.store} (term ${cur.epoch}): the cluster moved to another store; masters of ${cur.store} are refused from now on (${call} brought it)`);
      await this.adopt(kept, term, [{ store: cur.store, epoch: cur.epoch, at: new Date().toISOString() }]);
    });
  }

  private async adopt(kept: TermFile, term: MasterTerm, newlyLeft: TermFile["left"]): Promise<void> {
    const next: TermFile = {
      current: { store: term.store, epoch: term.epoch, since: new Date().toISOString() },
      left: [...kept.left, ...newlyLeft].slice(-MAX_LEFT),
    };
    await writeJsonAtomic(this.file, next, { sync: true });
    if (kept.current === null) this.log(`node ${this.nodeName}: obeys masters of store ${term.store} from term ${term.epoch}`);
  }

  private refusal(what: string): AgentError {
    return new AgentError(AGENT_ERRORS.fencedOut, `node ${this.nodeName} refuses ${what}`);
  }

  private async read(): Promise<TermFile> {
    let v: Partial<TermFile> | null;
    try {
      v = await readJson<Partial<TermFile> | null>(this.file, EMPTY);
    } catch (err) {
      throw new AgentError(AGENT_ERRORS.internal, `node ${this.nodeName} cannot read its master term ${this.file} (${err instanceof Error ? err.message : String(err)}); stop the agent and remove the file to reset it`);
    }
    // Our own file (adopt above); a hand-edited one that lost its fields counts as empty parts.
    return { current: v?.current ?? null, left: Array.isArray(v?.left) ? v.left : [] };
  }
}
