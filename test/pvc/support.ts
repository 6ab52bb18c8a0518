// Test support for the PVC API: a Corral master with a pvc-api.yaml, and a small client that
// sends PVC-style requests (query string, form body or JSON body, X-Api-Key, cookies).

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, startTestMaster, type Reply, type TestMaster } from "../support/cluster.ts";
import { PVC_SECRET_KEY } from "../support/secrets.ts";
import type { MasterOptions } from "../../src/master/master.ts";
import { onUndeclaredPvcRead } from "../../src/api/pvc/values.ts";

export interface PvcTestMaster extends TestMaster {
  pvcPort: number;
  pvc: PvcClient;
}

export interface AuthOptions {
  enabled: boolean;
  tokens?: string[];
  secret?: string;
}

export function pvcYaml(auth: AuthOptions = { enabled: false }): string {
  const tokens = (auth.tokens ?? []).map((t, i) => `        - description: "token ${i}"\n          token: "${t}"`).join("\n");
  return [
    "---",
    "pvc:",
    "  debug: False",
    "  coordinators:",
    "    - node1",
    "  api:",
    '    listen_address: "127.0.0.1"',
    '    listen_port: "0"',
    "    authentication:",
    `      enabled: ${auth.enabled ? "True" : "False"}`,
    `      secret_key: "${auth.secret ?? PVC_SECRET_KEY}"`,
    `      tokens:${tokens === "" ? " []" : "\n" + tokens}`,
    "    ssl:",
    "      enabled: False",
    '      cert_file: ""',
    '      key_file: ""',
    "",
  ].join("\n");
}

export async function startPvcMaster(auth?: AuthOptions, opts: Partial<MasterOptions> = {}): Promise<PvcTestMaster> {
  const dir = mkdtempSync(join(tmpdir(), "corral-pvc-"));
  const file = join(dir, "pvc-api.yaml");
  writeFileSync(file, pvcYaml(auth));
  const tm = await startTestMaster({ pvcConfigFile: file, liveRefreshMs: 60_000, ...opts });
  const pvcPort = tm.master.pvcPort!;
  if (openMasters++ === 0) onUndeclaredPvcRead((name) => undeclaredReads.add(name));
  const close = async () => {
    await tm.close();
    if (--openMasters > 0) return;
    onUndeclaredPvcRead(undefined);
    const found = [...undeclaredReads];
    undeclaredReads.clear();
    assert.deepEqual(found, [], "a PVC handler read values its route does not declare (see the routes' `values`)");
  };
  return { ...tm, close, pvcPort, pvc: new PvcClient(pvcPort) };
}

/**
 * Every PVC suite's traffic checks the routes' value declarations (the OpenAPI document's
 * source): a handler reading an undeclared value fails the suite when its masters close.
 */
let openMasters = 0;
const undeclaredReads = new Set<string>();

export type PvcReply = Reply;

export interface PvcCallOptions {
  query?: Record<string, string>;
  form?: Record<string, string>;
  json?: unknown;
  headers?: Record<string, string>;
}

/** PVC-style requests over the shared test client: values in the query, a form or JSON. */
export class PvcClient {
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }

  call(method: string, path: string, o: PvcCallOptions = {}): Promise<PvcReply> {
    const qs = o.query ? `?${new URLSearchParams(o.query).toString()}` : "";
    const body = o.form ? new URLSearchParams(o.form).toString() : o.json !== undefined ? JSON.stringify(o.json) : undefined;
    const contentType = o.form ? "application/x-www-form-urlencoded" : "application/json";
    return call(this.port, method, `/api/v1${path}${qs}`, { rawBody: body, contentType, headers: o.headers });
  }

  get = (path: string, query?: Record<string, string>) => this.call("GET", path, { query });
  post = (path: string, form?: Record<string, string>) => this.call("POST", path, { form });
  put = (path: string, form?: Record<string, string>) => this.call("PUT", path, { form });
  del = (path: string, query?: Record<string, string>) => this.call("DELETE", path, { query });
}

/** The `message` of a PVC reply. */
export const msg = (r: PvcReply): string => (r.json as { message?: string } | undefined)?.message ?? `<no message: ${r.status} ${r.text}>`;

/** A libvirt domain XML with rbd disks "pool/volume" and bridges. */
export function domainXml(name: string, uuid: string, o: { memory?: number; vcpus?: number; disks?: string[]; bridges?: string[]; macs?: string[] } = {}): string {
  const disks = (o.disks ?? []).map((d, i) => `    <disk type='network' device='disk'>
      <driver name='qemu' discard='unmap'/>
      <source protocol='rbd' name='${d}'/>
      <target dev='sd${String.fromCharCode(97 + i)}' bus='scsi'/>
    </disk>`).join("\n");
  const nics = (o.bridges ?? []).map((b, i) => `    <interface type='bridge'>
      <mac address='${o.macs?.[i] ?? `52:54:00:00:00:${(10 + i).toString(16).padStart(2, "0")}`}'/>
      <source bridge='${b}'/>
      <model type='virtio'/>
    </interface>`).join("\n");
  return `<domain type='kvm'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <description>Test VM ${name}</description>
  <memory unit='MiB'>${o.memory ?? 512}</memory>
  <vcpu>${o.vcpus ?? 1}</vcpu>
  <cpu mode='host-passthrough'><topology sockets='1' cores='${o.vcpus ?? 1}' threads='1'/></cpu>
  <os><type arch='x86_64' machine='pc-i440fx-2.7'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/><pae/></features>
  <devices>
    <emulator>/usr/bin/kvm</emulator>
    <controller type='scsi' index='0' model='virtio-scsi'/>
${disks}
${nics}
    <console type='pty'/>
  </devices>
</domain>
`;
}
