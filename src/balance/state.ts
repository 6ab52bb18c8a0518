// A node's resource state while instances are placed and moved on it, with the rules htools
// apply when an instance is added to or removed from a node as primary or secondary (Ganeti's
// HTools/Node.hs: what free memory means, N+1 reservations for DRBD secondaries, what refuses
// an instance). The balancer, and capacity/N+1 checks, work on these states.

import { migratesWithStorage, type ClusterModel, type ModelInstance, type ModelNode, type RunStatus } from "./model.ts";

/** Why a node refuses an instance (htools' FailMode). */
export type Failure = "FailMem" | "FailDisk" | "FailCPU" | "FailSpindles" | "FailTags";

const NOT_USING_MEMORY: ReadonlySet<RunStatus> = new Set(["ADMIN_down", "ADMIN_offline", "ERROR_down", "USER_down"]);
/** Disk templates whose disks take space on the nodes themselves. */
const LOCAL_STORAGE = new Set(["drbd", "plain"]);
/** Templates htools can move at all. */
const MOVABLE_TEMPLATES = new Set(["drbd", "blockdev", "sharedfile", "gluster", "rbd", "ext"]);

export type Mirror = "none" | "internal" | "external";
export function templateMirror(template: string): Mirror {
  if (template === "drbd") return "internal";
  if (template === "file" || template === "plain") return "none";
  return "external";
}

/** An instance's facts that placement rules read, derived once. */
export interface InstanceFacts {
  readonly name: string;
  readonly mem: number;
  readonly dsk: number;
  readonly vcpus: number;
  readonly running: boolean;
  readonly usesMemory: boolean;
  readonly notOffline: boolean;
  /** Its memory is reserved on the secondary for a failover (N+1). */
  readonly usesSecMem: boolean;
  readonly usesLocalStorage: boolean;
  /**
   * A running kvm `file` instance whose disk files may move with it (storage moves asked for,
   * not hbal's rule): its disk counts on its primary's free disk when it leaves or arrives.
   */
  readonly movesWithStorage: boolean;
  readonly mirror: Mirror;
  readonly hasSecondary: boolean;
  readonly spindleUse: number;
  readonly spindles: number | null;
  readonly exclTags: readonly string[];
  /** Whether the balancer may move it (template, auto_balance, selection). */
  movable: boolean;
}

export function instanceFacts(i: ModelInstance, exclusionPrefixes: readonly string[], storageMoves = false): InstanceFacts {
  const notOffline = i.status !== "ADMIN_offline";
  const movesWithStorage = storageMoves && migratesWithStorage(i);
  return {
    name: i.name,
    mem: i.mem,
    dsk: i.dsk,
    vcpus: i.vcpus,
    running: i.status === "running" || i.status === "ERROR_up",
    usesMemory: !NOT_USING_MEMORY.has(i.status),
    notOffline,
    usesSecMem: notOffline && i.autoBalance,
    usesLocalStorage: LOCAL_STORAGE.has(i.template),
    movesWithStorage,
    mirror: templateMirror(i.template),
    hasSecondary: i.snode >= 0,
    spindleUse: i.spindleUse,
    spindles: i.spindles,
    exclTags: i.tags.filter((t) => exclusionPrefixes.some((p) => t.startsWith(p))),
    movable: (MOVABLE_TEMPLATES.has(i.template) || movesWithStorage) && i.autoBalance,
  };
}

/** A node's facts that no placement changes. */
interface NodeFacts {
  readonly index: number;
  readonly offline: boolean;
  readonly tMem: number;
  readonly nMem: number;
  /** The node's reported free memory. */
  readonly fMem: number;
  readonly tDsk: number;
  readonly tCpu: number;
  readonly cpuSpeed: number;
  readonly vcpuRatio: number;
  readonly tSpindles: number;
  readonly hiSpindles: number;
  readonly exclStorage: boolean;
}

const NO_PEERS: ReadonlyMap<number, number> = new Map();
const NO_TAGS: ReadonlyMap<string, number> = new Map();

/**
 * One node's state; copied before a tentative change (copy() is cheap: the facts are shared,
 * the two maps are copied only when a change writes to them).
 */
export class NodeState {
  private readonly facts: NodeFacts;
  iMem = 0;
  /** Memory the node reports missing against the records (set once loaded). */
  xMem = 0;
  /** The node's reported free memory, less what later additions took (htools' fMemForth). */
  fMemForth: number;
  fDsk: number;
  uCpu: number;
  fSpindles: number;
  instSpindles = 0;
  primaries = 0;
  secondaries = 0;
  rMem = 0;
  failN1 = false;
  /** Summed dynamic load (each instance counts 1: no utilisation data over RAPI). */
  loadCpu = 0;
  loadMem = 0;
  loadDsk = 0;
  loadNet = 0;
  /** Per primary node: memory of this node's secondaries that fail over to it. */
  private peerMap: ReadonlyMap<number, number> = NO_PEERS;
  /** Exclusion tags of primaries and their counts. */
  private tagMap: ReadonlyMap<string, number> = NO_TAGS;
  /** Whether the maps are this state's own (else shared with the state it was copied from). */
  private ownMaps = false;

  constructor(facts: NodeFacts, fDsk: number, uCpu: number, fSpindles: number) {
    this.facts = facts;
    this.fMemForth = facts.fMem;
    this.fDsk = fDsk;
    this.uCpu = uCpu;
    this.fSpindles = fSpindles;
  }

  static of(index: number, n: ModelNode, vcpuRatio: number, spindleRatio: number): NodeState {
    const facts: NodeFacts = {
      index, offline: n.offline, tMem: n.tMem, nMem: n.nMem, fMem: n.fMem, tDsk: n.tDsk, tCpu: n.tCpu,
      cpuSpeed: n.cpuSpeed, vcpuRatio, tSpindles: n.tSpindles, hiSpindles: spindleRatio * n.tSpindles,
      exclStorage: n.exclusiveStorage,
    };
    return new NodeState(facts, n.fDsk, n.nCpu, n.fSpindles);
  }

  copy(): NodeState {
    const c = new NodeState(this.facts, this.fDsk, this.uCpu, this.fSpindles);
    c.iMem = this.iMem;
    c.xMem = this.xMem;
    c.fMemForth = this.fMemForth;
    c.instSpindles = this.instSpindles;
    c.primaries = this.primaries;
    c.secondaries = this.secondaries;
    c.rMem = this.rMem;
    c.failN1 = this.failN1;
    c.loadCpu = this.loadCpu;
    c.loadMem = this.loadMem;
    c.loadDsk = this.loadDsk;
    c.loadNet = this.loadNet;
    c.peerMap = this.peerMap;
    c.tagMap = this.tagMap;
    return c;
  }

  get index(): number { return this.facts.index; }
  get offline(): boolean { return this.facts.offline; }
  get tMem(): number { return this.facts.tMem; }
  get nMem(): number { return this.facts.nMem; }
  get fMem(): number { return this.facts.fMem; }
  get tDsk(): number { return this.facts.tDsk; }
  get tCpu(): number { return this.facts.tCpu; }
  get cpuSpeed(): number { return this.facts.cpuSpeed; }
  get vcpuRatio(): number { return this.facts.vcpuRatio; }
  get tSpindles(): number { return this.facts.tSpindles; }
  get hiSpindles(): number { return this.facts.hiSpindles; }
  get exclStorage(): boolean { return this.facts.exclStorage; }
  get peers(): ReadonlyMap<number, number> { return this.peerMap; }
  get pTags(): ReadonlyMap<string, number> { return this.tagMap; }

  private writableMaps(): { peers: Map<number, number>; tags: Map<string, number> } {
    if (!this.ownMaps) {
      this.peerMap = new Map(this.peerMap);
      this.tagMap = new Map(this.tagMap);
      this.ownMaps = true;
    }
    return { peers: this.peerMap as Map<number, number>, tags: this.tagMap as Map<string, number> };
  }

  /** Free memory as recorded (total − node − instances), less what the node says is missing. */
  unallocatedMem(iMem = this.iMem): number {
    return Math.trunc(this.tMem) - this.nMem - iMem - Math.max(0, this.xMem);
  }
  get pMem(): number {
    return this.unallocatedMem() / this.tMem;
  }
  get pMemForth(): number {
    return this.fMemForth / this.tMem;
  }
  get pDsk(): number {
    if (this.exclStorage) return this.tSpindles === 0 ? 1 : this.fSpindles / this.tSpindles;
    return this.tDsk === 0 ? 1 : this.fDsk / this.tDsk;
  }
  get pRem(): number {
    return this.rMem / this.tMem;
  }
  get pCpuEff(): number {
    return this.uCpu / this.tCpu / this.cpuSpeed;
  }
  get conflictingPrimaries(): number {
    let sum = 0;
    for (const c of this.pTags.values()) sum += c;
    return sum - this.pTags.size;
  }

  private spindlesAfter(add: boolean, i: InstanceFacts): { free: number; used: number } {
    if (!this.exclStorage) {
      const used = i.usesLocalStorage ? this.instSpindles + (add ? i.spindleUse : -i.spindleUse) : this.instSpindles;
      return { free: 0, used };
    }
    const free = i.spindles === null ? (add ? -1 : this.fSpindles) : this.fSpindles + (add ? -i.spindles : i.spindles);
    return { free, used: 0 };
  }

  /** Places an instance as primary while loading (no checks). */
  loadPrimary(i: InstanceFacts): void {
    this.primaries++;
    if (i.notOffline) this.uCpu += i.vcpus;
    this.addLoad(1);
    this.instSpindles = this.spindlesAfter(true, i).used;
    if (i.exclTags.length > 0) addTags(this.writableMaps().tags, i.exclTags);
    if (!i.usesMemory) this.fMemForth -= i.mem;
  }

  /** Places an instance as secondary while loading (no checks). */
  loadSecondary(i: InstanceFacts, pnode: number): void {
    this.secondaries++;
    this.loadDsk++;
    this.instSpindles = this.spindlesAfter(true, i).used;
    if (i.usesSecMem) this.writableMaps().peers.set(pnode, (this.peers.get(pnode) ?? 0) + i.mem);
  }

  /** After loading: N+1 state from the secondaries, as htools' buildPeers. */
  finishLoad(): void {
    this.rMem = maxPeer(this.peers);
    this.failN1 = this.fMem < this.rMem;
  }

  private addLoad(sign: number): void {
    this.loadCpu += sign;
    this.loadMem += sign;
    this.loadDsk += sign;
    this.loadNet += sign;
  }

  removePrimary(i: InstanceFacts): void {
    this.primaries--;
    if (i.usesMemory) this.iMem -= i.mem;
    this.failN1 = this.unallocatedMem() <= this.rMem;
    if (i.usesLocalStorage || i.movesWithStorage) this.fDsk += i.dsk;
    const sp = this.spindlesAfter(false, i);
    this.fSpindles = sp.free;
    this.instSpindles = sp.used;
    if (i.notOffline) this.uCpu -= i.vcpus;
    this.addLoad(-1);
    if (i.exclTags.length > 0) delTags(this.writableMaps().tags, i.exclTags);
    this.fMemForth += i.mem;
  }

  /** Removes a secondary whose primary is `pnode`. */
  removeSecondary(i: InstanceFacts, pnode: number): void {
    this.secondaries--;
    if (i.usesLocalStorage) this.fDsk += i.dsk;
    const sp = this.spindlesAfter(false, i);
    this.fSpindles = sp.free;
    this.instSpindles = sp.used;
    const oldPeer = this.peers.get(pnode) ?? 0;
    const newPeer = i.usesSecMem ? oldPeer - i.mem : oldPeer;
    if (newPeer > 0) this.writableMaps().peers.set(pnode, newPeer);
    else if (this.peers.has(pnode)) this.writableMaps().peers.delete(pnode);
    if (oldPeer >= this.rMem) this.rMem = maxPeer(this.peers);
    this.failN1 = this.unallocatedMem() <= this.rMem;
    this.loadDsk--;
  }

  /** Adds a primary; `force` skips the soft checks (N+1, CPU ratio, tags, reserves). */
  addPrimary(i: InstanceFacts, force: boolean): Failure | undefined {
    const strict = !force;
    const newIMem = i.usesMemory ? this.iMem + i.mem : this.iMem;
    const newFree = this.unallocatedMem(newIMem);
    const newFailN1 = newFree <= this.rMem;
    // File disks that move along take the target's disk space; spindles stay hbal's (LVM) rule.
    const diskOnNode = i.usesLocalStorage || i.movesWithStorage;
    const newDsk = diskOnNode ? this.fDsk - i.dsk : this.fDsk;
    const sp = this.spindlesAfter(true, i);
    const newUCpu = i.notOffline ? this.uCpu + i.vcpus : this.uCpu;
    const newPCpu = newUCpu / this.tCpu;
    const local = i.usesLocalStorage;
    if (newFree <= 0) return "FailMem";
    if (diskOnNode && newDsk <= 0) return "FailDisk";
    if (strict && diskOnNode && newDsk < 0) return "FailDisk";
    if (local && this.exclStorage && sp.free < 0) return "FailSpindles";
    if (strict && local && sp.used > this.hiSpindles) return "FailDisk";
    if (strict && newFailN1 && !this.failN1) return "FailMem";
    if (strict && this.vcpuRatio >= 0 && this.vcpuRatio < newPCpu) return "FailCPU";
    if (strict && i.exclTags.some((t) => this.pTags.has(t))) return "FailTags";
    if (strict && this.fMemForth - i.mem <= 0) return "FailMem";
    this.primaries++;
    this.iMem = newIMem;
    this.fDsk = newDsk;
    this.failN1 = newFailN1;
    this.uCpu = newUCpu;
    this.addLoad(1);
    this.instSpindles = sp.used;
    this.fSpindles = sp.free;
    if (i.exclTags.length > 0) addTags(this.writableMaps().tags, i.exclTags);
    this.fMemForth -= i.mem;
    return undefined;
  }

  /** Adds a secondary whose primary is `pnode`. */
  addSecondary(i: InstanceFacts, pnode: number, force: boolean, ignoreDisks = false): Failure | undefined {
    const strict = !force;
    const needed = i.usesSecMem ? i.mem : 0;
    const newPeer = (this.peers.get(pnode) ?? 0) + needed;
    const oldMem = this.unallocatedMem();
    const newDsk = this.fDsk - i.dsk;
    const sp = this.spindlesAfter(true, i);
    const newRMem = Math.max(this.rMem, newPeer);
    const newFailN1 = oldMem <= newRMem;
    if (!i.hasSecondary) return "FailDisk";
    if (!ignoreDisks && newDsk <= 0) return "FailDisk";
    if (strict && newDsk < 0) return "FailDisk";
    if (this.exclStorage && sp.free < 0) return "FailSpindles";
    if (strict && sp.used > this.hiSpindles) return "FailDisk";
    if (strict && needed >= oldMem) return "FailMem";
    if (strict && newFailN1 && !this.failN1) return "FailMem";
    if (strict && (newDsk <= 0 || needed >= this.fMemForth)) return newDsk <= 0 ? "FailDisk" : "FailMem";
    this.secondaries++;
    this.fDsk = newDsk;
    this.writableMaps().peers.set(pnode, newPeer);
    this.failN1 = newFailN1;
    this.rMem = newRMem;
    this.loadDsk++;
    this.instSpindles = sp.used;
    this.fSpindles = sp.free;
    return undefined;
  }
}

function maxPeer(peers: ReadonlyMap<number, number>): number {
  let m = 0;
  for (const v of peers.values()) if (v > m) m = v;
  return m;
}
function addTags(map: Map<string, number>, tags: readonly string[]): void {
  for (const t of tags) map.set(t, (map.get(t) ?? 0) + 1);
}
function delTags(map: Map<string, number>, tags: readonly string[]): void {
  for (const t of tags) {
    const c = map.get(t);
    if (c === undefined) continue;
    if (c > 1) map.set(t, c - 1);
    else map.delete(t);
  }
}

/** Where every instance is, and each node's state: what the balancer changes. */
export interface Placement {
  readonly nodes: NodeState[];
  readonly instances: InstanceFacts[];
  readonly pnode: Int32Array;
  readonly snode: Int32Array;
}

/**
 * The nodes' states with every instance placed, the way htools' loader prepares them:
 * primaries and secondaries added, instance memory counted, memory the node reports missing
 * against the records taken as used, N+1 reservations from the secondaries. With
 * `storageMoves`, running kvm `file` instances may move with their disks (movesWithStorage).
 */
export function placeAll(model: ClusterModel, exclusionPrefixes: readonly string[], storageMoves = false): Placement {
  const nodes = model.nodes.map((n, ix) => {
    const g = model.groups[n.group];
    return NodeState.of(ix, n, g.vcpuRatio, g.spindleRatio);
  });
  const instances = model.instances.map((i) => instanceFacts(i, exclusionPrefixes, storageMoves));
  const pnode = Int32Array.from(model.instances, (i) => i.pnode);
  const snode = Int32Array.from(model.instances, (i) => i.snode);
  instances.forEach((inst, ix) => {
    nodes[pnode[ix]].loadPrimary(inst);
    if (snode[ix] >= 0) nodes[snode[ix]].loadSecondary(inst, pnode[ix]);
    if (inst.usesMemory) nodes[pnode[ix]].iMem += inst.mem;
    // An instance split over two groups stays where it is.
    if (snode[ix] >= 0 && model.nodes[pnode[ix]].group !== model.nodes[snode[ix]].group) inst.movable = false;
  });
  for (const n of nodes) {
    n.finishLoad();
    n.xMem = Math.trunc(n.tMem) - n.nMem - n.iMem - n.fMem;
  }
  return { nodes, instances, pnode, snode };
}
