// /api/v1/vm: PVC VMs are Corral instances. Define/modify/undefine are PVC logical units;
// state changes and moves are Ganeti's instance opcodes behind a recorded intent (the
// handler answers once the intent is recorded, as PVC answers once it wrote the state).

import { capacityModel, type AllocRequest } from "../../alloc/allocator.ts";
import { isPvcSelector, PVC_SELECTORS, selectNode, DEFAULT_SELECTOR, type PvcSelector } from "../../alloc/selectors.ts";
import { buildOpcode, type Opcode } from "../../model/opcode.ts";
import { OpPvcVmDefine, OpPvcVmFlushLocks, OpPvcVmModify, OpPvcVmUndefine } from "../../model/opcodes/pvc.ts";
import type { Instance, Node } from "../../model/objects.ts";
import { moveRequest } from "../../alloc/requests.ts";
import { findVm } from "../../query/pvc-names.ts";
import { DomainXmlError, parseDomainXml } from "../../model/libvirt/libvirt.ts";
import { kvmDomain } from "../../model/libvirt/libvirt-kvm.ts";
import { moveJob, stateJob } from "../../model/pvc-plans.ts";
import { findObject } from "../../query/resolve.ts";
import { niceSortBy } from "../../query/names.ts";
import { notFound, pvcFailure, pvcMessage } from "./errors.ts";
import { commandJob, failureText, runJob, type PvcServices } from "./jobs.ts";
import { LIMIT, limitMatcher } from "./limit.ts";
import { message, ok, pvcRoute, type PvcReply, type PvcRoute } from "./server.ts";
import { pvcValue, type PvcValues } from "./values.ts";
import { vmState, vmView } from "./views.ts";

const XML = pvcValue.string("xml", "The VM's libvirt domain XML", { required: true });
const SELECTOR = pvcValue.choice("selector", PVC_SELECTORS, `How to pick the node when \`node\` names none that can take it (default ${DEFAULT_SELECTOR})`);
const TARGET_NODE = pvcValue.string("node", "The node to put the VM on");
/** What targetNode reads. */
const PLACEMENT = [SELECTOR, TARGET_NODE];
const VM_STATE = pvcValue.choice("state", ["start", "shutdown", "stop", "restart"], "The state to put the VM in", { required: true });
const MOVE_ACTION = pvcValue.choice("action", ["migrate", "unmigrate", "move"], "Migrate (remembering the node it left), migrate back, or move for good", { required: true });

function selector(values: PvcValues): PvcSelector {
  const v = values.get("selector");
  if (v === undefined || v === "") return DEFAULT_SELECTOR;
  if (!isPvcSelector(v)) throw pvcFailure(`ERROR: Selector '${v}' is not valid; use one of ${PVC_SELECTORS.join(", ")}.`);
  return v;
}

/** `node` when it names a node that can take VMs, else the selector's choice (the manual's rule). */
function targetNode(s: PvcServices, values: PvcValues, req: Omit<AllocRequest, "ranking">): Node | undefined {
  const snap = s.store.snapshot();
  const sel = selector(values);
  const named = values.get("node");
  const given = named ? findObject(snap, "node", named) : undefined;
  if (given && given.vm_capable && !given.offline) return given;
  return selectNode(sel, capacityModel(snap, s.live), snap, req);
}

/** A VM about to be defined, as the allocator sees it: it does not run yet, its disks are volumes. */
function defineRequest(xml: string): Omit<AllocRequest, "ranking"> {
  const def = parseDomainXml(xml);
  return {
    name: def.name,
    memory: 0,
    vcpus: def.vcpus,
    disk: null,
    shape: { memory: def.memory, vcpus: def.vcpus, spindleUse: null, nics: def.nics.length, diskSizes: [], diskTemplates: [] },
  };
}

/**
 * PVC's answer to a define or XML change, plus, for a kvm VM, `unmapped`: what in its XML
 * Corral does not map (XPath-like, also in the job log); an empty list when everything was.
 */
function defineAnswer(s: PvcServices, uuid: string, xml: string, text: string, change: "define" | "modify"): PvcReply {
  const inst = s.store.snapshot().instances.get(uuid);
  if (inst?.hypervisor !== "kvm") return message(text);
  // A new VM's port is allocated after its XML was mapped: an explicit port was not honoured.
  const networkPort = change === "modify" ? inst.network_port : null;
  return ok({ message: pvcMessage(text), unmapped: kvmDomain(xml, { networkPort }).unmapped });
}

function commandVm(s: PvcServices, vm: string): Instance {
  const inst = findVm(s.store.snapshot(), vm);
  if (!inst) throw pvcFailure(`ERROR: Could not find VM '${vm}' in the cluster!`);
  return inst;
}

function parseXmlValue(values: PvcValues): string {
  const xml = values.get("xml");
  if (xml === undefined || xml.trim() === "") throw pvcFailure("ERROR: A Libvirt XML document must be specified.");
  try {
    parseDomainXml(xml);
  } catch (err) {
    if (err instanceof DomainXmlError) throw pvcFailure(`ERROR: Failed to parse XML data: ${err.message}.`);
    throw err;
  }
  return xml;
}

export function vmRoutes(s: PvcServices): PvcRoute[] {
  const jobs = (id: number) => s.queue.get(id);
  const running = (inst: Instance) => s.live.instances.get(inst.uuid)?.running === true;
  const list = (keep: (i: Instance) => boolean) => {
    const snap = s.store.snapshot();
    const rows = niceSortBy([...snap.instances.values()].filter(keep), (i) => i.name).map((i) => vmView(snap, s.live, jobs, i));
    if (rows.length === 0) throw notFound("VM");
    return ok(rows);
  };
  /** Submits a state or move job and answers once its intent is recorded. */
  const intentJob = async (ops: Opcode[], done: string) => {
    const out = await runJob(s, ops, { until: 0 });
    if (!out.ok) throw pvcFailure(failureText(out));
    return message(done);
  };

  return [
    pvcRoute("/api/v1/vm", {
      GET: {
        values: [LIMIT, pvcValue.string("node", "Only the VMs on this node"), pvcValue.string("state", "Only the VMs in this state (start, stop, …)")],
        handle: ({ values }) => {
          const match = limitMatcher(values.get("limit"));
          const snap = s.store.snapshot();
          const nodeName = values.get("node");
          const node = nodeName ? findObject(snap, "node", nodeName) : undefined;
          if (nodeName && !node) throw pvcFailure(`ERROR: Specified node '${nodeName}' is invalid.`);
          const state = values.get("state");
          return list((i) => match(i.name, i.uuid) && (!node || i.primary_node === node.uuid) && (!state || vmState(i, jobs).state === state));
        },
      },
      POST: {
        values: [XML, ...PLACEMENT],
        handle: async ({ values }) => {
          const xml = parseXmlValue(values);
          const target = targetNode(s, values, defineRequest(xml));
          if (!target) throw pvcFailure("ERROR: No node can take the VM.");
          const op = buildOpcode(OpPvcVmDefine, { xml, node: target.name });
          const done = await commandJob(s, [op], "VM defined.");
          const uuid = /UUID '([^']+)'/.exec(done)?.[1] ?? "";
          return defineAnswer(s, uuid, xml, done, "define");
        },
      },
    }),
    pvcRoute("/api/v1/vm/<vm>", {
      GET: ({ params }) => {
        const inst = findVm(s.store.snapshot(), params.vm);
        if (!inst) throw notFound("VM");
        return list((i) => i.uuid === inst.uuid);
      },
      POST: () => {
        throw pvcFailure("ERROR: Creating VMs from templates (the provisioner) is not part of API v1.");
      },
      PUT: {
        values: [XML, pvcValue.flag("restart", "Restart the VM, if it runs, to apply the new XML")],
        handle: async ({ params, values }) => {
          const inst = commandVm(s, params.vm);
          const xml = parseXmlValue(values);
          const restart = values.flag("restart");
          await commandJob(s, [buildOpcode(OpPvcVmModify, { instance_name: inst.name, xml })], "");
          const name = parseDomainXml(xml).name;
          if (restart && running(inst)) {
            const updated = commandVm(s, name);
            await intentJob(stateJob(updated, "restart"), "");
            return defineAnswer(s, inst.uuid, xml, `Successfully modified configuration of VM '${name}'; restarting it.`, "modify");
          }
          return defineAnswer(s, inst.uuid, xml, `Successfully modified configuration of VM '${name}'.`, "modify");
        },
      },
      DELETE: {
        values: [pvcValue.flag("delete_disks", "Remove its disks too")],
        handle: async ({ params, values }) => {
          const inst = commandVm(s, params.vm);
          const deleteDisks = values.flag("delete_disks");
          await commandJob(s, [buildOpcode(OpPvcVmUndefine, { instance_name: inst.name, delete_disks: deleteDisks })], "");
          return message(deleteDisks ? `Removed VM '${params.vm}' and disks from the cluster.` : `Undefined VM '${params.vm}' from the cluster.`);
        },
      },
    }),
    pvcRoute("/api/v1/vm/<vm>/state", {
      GET: ({ params }) => {
        const inst = findVm(s.store.snapshot(), params.vm);
        if (!inst) throw notFound("VM");
        return ok({ name: inst.name, state: vmState(inst, jobs).state });
      },
      POST: {
        values: [VM_STATE],
        handle: async ({ params, values }) => {
          const state = values.choice(VM_STATE);
          const inst = commandVm(s, params.vm);
          if ((state === "shutdown" || state === "restart") && vmState(inst, jobs).state !== "start") {
            throw pvcFailure(`ERROR: VM '${params.vm}' is not in 'start' state!`);
          }
          const done = { start: "Starting", shutdown: "Shutting down", stop: "Forcibly stopping", restart: "Restarting" }[state];
          return intentJob(stateJob(inst, state), `${done} VM '${params.vm}'.`);
        },
      },
    }),
    pvcRoute("/api/v1/vm/<vm>/node", {
      GET: ({ params }) => {
        const snap = s.store.snapshot();
        const inst = findVm(snap, params.vm);
        if (!inst) throw notFound("VM");
        const last = inst.pvc?.last_node ? (snap.nodes.get(inst.pvc.last_node)?.name ?? "") : "";
        return ok({ name: params.vm, node: snap.nodes.get(inst.primary_node)?.name ?? "", last_node: last });
      },
      POST: {
        values: [MOVE_ACTION, pvcValue.flag("permanent", "Do not remember the node it left"), pvcValue.flag("force", "Migrate a VM that was migrated before (it keeps the node it first came from)"), ...PLACEMENT],
        handle: async ({ params, values }) => {
          const action = values.choice(MOVE_ACTION);
          const snap = s.store.snapshot();
          const inst = commandVm(s, params.vm);
          const current = snap.nodes.get(inst.primary_node);
          const last = inst.pvc?.last_node ? snap.nodes.get(inst.pvc.last_node) : undefined;
          if (action === "unmigrate") {
            if (!last) throw pvcFailure(`ERROR: VM '${params.vm}' has not been previously migrated.`);
            return intentJob(moveJob(inst, last, running(inst), "unmigrate", ""), `Unmigrating VM '${params.vm}' back to node '${last.name}'.`);
          }
          const permanent = action === "move" || values.flag("permanent");
          const force = values.flag("force");
          if (last && !force && !permanent) throw pvcFailure(`ERROR: VM '${params.vm}' has been previously migrated.`);
          const target = targetNode(s, values, moveRequest(snap, inst));
          if (!target) throw pvcFailure(`ERROR: No node can take VM '${params.vm}'.`);
          if (target.uuid === current?.uuid) throw pvcFailure(`ERROR: VM '${params.vm}' is already running on node '${target.name}'.`);
          if (permanent) {
            return intentJob(moveJob(inst, target, running(inst), "migrate", ""), `Permanently migrating VM '${params.vm}' to node '${target.name}'.`);
          }
          // With force, an already migrated VM keeps the node it first came from.
          const remember = last && force ? null : (current?.name ?? null);
          return intentJob(moveJob(inst, target, running(inst), "migrate", remember), `Migrating VM '${params.vm}' to node '${target.name}'.`);
        },
      },
    }),
    pvcRoute("/api/v1/vm/<vm>/locks", {
      GET: () => {
        throw pvcFailure("Not implemented");
      },
      POST: async ({ params }) => {
        const inst = commandVm(s, params.vm);
        return message(await commandJob(s, [buildOpcode(OpPvcVmFlushLocks, { instance_name: inst.name })], `Flushed locks on VM '${params.vm}'`));
      },
    }),
  ];
}
