// An export's config.ini, as Ganeti's FinalizeExport writes it and instance import reads it
// (sections export, instance, hypervisor, backend, os, os_private; Python str() values).

import type { Instance, ParamDict } from "../../model/objects.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { filledBeparams, filledHvparams, filledNicparams, filledOsparams } from "./common.ts";
import { HV_GLOBAL_PARAMS } from "./params.ts";

/** Ganeti's EXPORT_VERSION. */
export const EXPORT_VERSION = 0;

export type IniSections = Map<string, Map<string, string>>;

/** Python's str() of a config value. */
function pyStr(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function formatIni(sections: IniSections): string {
  let out = "";
  for (const [name, entries] of sections) {
    out += `[${name}]\n`;
    for (const [k, v] of entries) out += `${k} = ${v.replace(/\n/g, "\n\t")}\n`;
    out += "\n";
  }
  return out;
}

export function parseIni(text: string): IniSections {
  const out: IniSections = new Map();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (/^\s*([#;]|$)/.test(line)) continue;
    const section = /^\[(.+)\]\s*$/.exec(line);
    if (section) {
      current = new Map();
      out.set(section[1], current);
      lastKey = undefined;
      continue;
    }
    if (/^\s/.test(line) && current && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey)}\n${line.trim()}`);
      continue;
    }
    const kv = /^([^=:]+?)\s*[=:]\s?(.*)$/.exec(line);
    if (kv && current) {
      lastKey = kv[1].toLowerCase();
      current.set(lastKey, kv[2]);
    }
  }
  return out;
}

/** The config.ini of an export of `inst` whose disk i was dumped to `dumps[i]`. */
export function exportConfig(snap: ConfigSnapshot, inst: Instance, dumps: (string | null)[]): string {
  const cluster = snap.cluster;
  const be = filledBeparams(cluster, inst.beparams);
  const template = inst.disks.length === 0 ? "diskless" : new Set(inst.disks.map((d) => d.dev_type)).size > 1 ? "mixed" : inst.disks[0].dev_type;
  const exp = new Map<string, string>([
    ["version", String(EXPORT_VERSION)],
    ["timestamp", String(Math.floor(Date.now() / 1000))],
    ["source", inst.primary_node],
    ["os", inst.os],
    ["compression", "none"],
  ]);
  const ins = new Map<string, string>([
    ["name", inst.name],
    ["maxmem", pyStr(be.maxmem)],
    ["minmem", pyStr(be.minmem)],
    ["memory", pyStr(be.maxmem)],
    ["vcpus", pyStr(be.vcpus)],
    ["disk_template", template],
    ["hypervisor", inst.hypervisor],
    ["tags", inst.tags.join(" ")],
  ]);
  inst.nics.forEach((nic, i) => {
    ins.set(`nic${i}_mac`, nic.mac);
    ins.set(`nic${i}_ip`, pyStr(nic.ip));
    ins.set(`nic${i}_network`, pyStr(nic.network));
    ins.set(`nic${i}_name`, pyStr(nic.name));
    const filled = filledNicparams(cluster, nic.nicparams);
    for (const p of ["mode", "link", "vlan"]) ins.set(`nic${i}_${p}`, pyStr(nic.nicparams[p] ?? (nic.network ? null : filled[p])));
  });
  ins.set("nic_count", String(inst.nics.length));
  let count = 0;
  inst.disks.forEach((disk, i) => {
    if (dumps[i] === null || dumps[i] === undefined) return;
    count++;
    ins.set(`disk${i}_ivname`, `disk/${i}`);
    ins.set(`disk${i}_dump`, dumps[i] as string);
    ins.set(`disk${i}_size`, String(disk.size));
    ins.set(`disk${i}_name`, pyStr(disk.name));
  });
  ins.set("disk_count", String(count));
  const dict = (d: ParamDict, skip: ReadonlySet<string> = new Set()) =>
    new Map(Object.entries(d).filter(([k]) => !skip.has(k)).map(([k, v]) => [k, pyStr(v)]));
  return formatIni(new Map([
    ["export", exp],
    ["instance", ins],
    ["hypervisor", dict(filledHvparams(cluster, inst.hypervisor, inst.os, inst.hvparams), HV_GLOBAL_PARAMS)],
    ["backend", dict(be)],
    ["os", dict(filledOsparams(cluster, inst.os, inst.osparams))],
    ["os_private", dict(inst.osparams_private)],
  ]));
}

/** What an import takes from an export (Ganeti's _ReadExportParams). */
export interface ExportParams {
  os: string;
  name: string;
  disks: Record<string, unknown>[];
  /** Per disk: the dump file, or null when the export has none. */
  dumps: (string | null)[];
  nics: Record<string, string | null>[];
  macs: (string | null)[];
  tags: string[];
  hypervisor: string | null;
  hvparams: ParamDict;
  beparams: ParamDict;
  osparams: ParamDict;
  osparams_private: ParamDict;
  version: number | null;
}

const fromPy = (v: string | undefined): string | null => (v === undefined || v === "None" ? null : v);

export function readExportParams(ini: IniSections): ExportParams {
  const exp = ini.get("export") ?? new Map<string, string>();
  const ins = ini.get("instance") ?? new Map<string, string>();
  const disks: Record<string, unknown>[] = [];
  const dumps: (string | null)[] = [];
  for (let i = 0; i < 16; i++) {
    const size = ins.get(`disk${i}_size`);
    if (size === undefined) continue;
    const disk: Record<string, unknown> = { size: Number(size) };
    const name = fromPy(ins.get(`disk${i}_name`));
    if (name !== null) disk.name = name;
    disks.push(disk);
    dumps.push(fromPy(ins.get(`disk${i}_dump`)));
  }
  const nics: Record<string, string | null>[] = [];
  const macs: (string | null)[] = [];
  for (let i = 0; i < 8 && ins.has(`nic${i}_mac`); i++) {
    const nic: Record<string, string | null> = {};
    for (const key of ["ip", "name"]) {
      const v = fromPy(ins.get(`nic${i}_${key}`));
      if (v !== null) nic[key] = v;
    }
    const network = fromPy(ins.get(`nic${i}_network`));
    if (network) nic.network = network;
    else {
      for (const key of ["mode", "link", "vlan"]) {
        const v = fromPy(ins.get(`nic${i}_${key}`));
        if (v !== null && v !== "") nic[key] = v;
      }
    }
    nics.push(nic);
    macs.push(fromPy(ins.get(`nic${i}_mac`)));
  }
  const section = (name: string): ParamDict => Object.fromEntries(ini.get(name) ?? new Map());
  const beparams = section("backend");
  if (!ini.has("backend")) {
    for (const key of ["maxmem", "minmem", "vcpus"]) if (ins.has(key)) beparams[key] = ins.get(key);
  }
  const version = exp.get("version");
  return {
    os: exp.get("os") ?? "",
    name: ins.get("name") ?? "",
    disks,
    dumps,
    nics,
    macs,
    tags: (ins.get("tags") ?? "").split(/\s+/).filter((t) => t !== ""),
    hypervisor: ins.get("hypervisor") ?? null,
    hvparams: section("hypervisor"),
    beparams,
    osparams: section("os"),
    osparams_private: section("os_private"),
    version: version === undefined ? null : Number(version),
  };
}
