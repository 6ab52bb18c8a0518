// Version stamps of the objects RAPI shows (the route table's `stamp`): a config object's
// strong ETag is "<uuid>-<serial_no>", which every committed change to it bumps; a filter
// rule has no serial_no (Ganeti's has none either), so its tag digests the rule itself.

import { createHash } from "node:crypto";
import type { JobPrecondition } from "../../model/job.ts";
import type { ConfigObject, FilterRule } from "../../model/objects.ts";
import { findOne } from "../../query/rapi.ts";
import type { VersionStamp } from "../http/routes.ts";
import type { RapiServices } from "./services.ts";

type Stamped = (params: Readonly<Record<string, string>>) => VersionStamp | undefined;

const KINDS = {
  instance: { precondition: "instance", title: "Instance" },
  node: { precondition: "node", title: "Node" },
  group: { precondition: "nodegroup", title: "Node group" },
  network: { precondition: "network", title: "Network" },
} as const satisfies Record<string, { precondition: JobPrecondition["kind"]; title: string }>;

/** Stored objects are replaced, never changed in place, on commit: a stamp per object holds. */
const stamps = new WeakMap<ConfigObject, VersionStamp>();

function configStamp(kind: JobPrecondition["kind"], subject: string, obj: ConfigObject): VersionStamp {
  let stamp = stamps.get(obj);
  if (!stamp) {
    stamp = { etag: `"${obj.uuid}-${obj.serial_no}"`, subject, precondition: { kind, uuid: obj.uuid, serial_no: obj.serial_no } };
    stamps.set(obj, stamp);
  }
  return stamp;
}

/** The stamp of the instance, node, group or network the path parameter `param` names. */
export function objectStamp(s: RapiServices, kind: keyof typeof KINDS, param: string): Stamped {
  const { precondition, title } = KINDS[kind];
  return (params) => {
    const obj = findOne(kind, s.store.snapshot(), params[param]);
    return obj && configStamp(precondition, `${title} ${obj.name}`, obj);
  };
}

/** The cluster's stamp (/2/info, /2/modify, /2/tags). */
export function clusterStamp(s: RapiServices): Stamped {
  return () => {
    const { cluster } = s.store.snapshot();
    return configStamp("cluster", `Cluster ${cluster.name}`, cluster);
  };
}

/**
 * A filter rule's stamp: its uuid and a digest of the stored rule. Filter writes make no
 * job (they change the config in the request), so there is no precondition to carry.
 */
export function filterStamp(s: RapiServices, param: string): Stamped {
  const ruleStamps = new WeakMap<FilterRule, VersionStamp>();
  return (params) => {
    const rule = findOne("filter", s.store.snapshot(), params[param]);
    if (!rule) return undefined;
    let stamp = ruleStamps.get(rule);
    if (!stamp) {
      const digest = createHash("sha256").update(JSON.stringify(rule)).digest("hex").slice(0, 20);
      stamp = { etag: `"${rule.uuid}-${digest}"`, subject: `Filter rule ${rule.uuid}` };
      ruleStamps.set(rule, stamp);
    }
    return stamp;
  };
}
