// What the PVC HTTP API v1 (src/api/pvc) keeps on Corral's config objects. Every field is
// optional on the objects: absent on what PVC never touched, and never read by Ganeti's views.

/** The VM states a PVC client can ask for (PVC's domain `state` intents). */
export const PVC_VM_INTENTS = ["start", "restart", "shutdown", "stop", "migrate", "unmigrate"] as const;
export type PvcVmIntent = (typeof PVC_VM_INTENTS)[number];

/** A state change asked through PVC and the Corral job carrying it out. */
export interface PvcIntent {
  state: PvcVmIntent;
  job: number;
}

export interface PvcInstanceData {
  /** The libvirt domain XML the VM was defined with (absent for instances made over RAPI). */
  xml?: string;
  /** Uuid of the node the VM was migrated away from; "" when it is not migrated. */
  last_node: string;
  intent?: PvcIntent;
}

export const PVC_DOMAIN_STATES = ["ready", "flush", "flushed", "unflush"] as const;
export type PvcDomainState = (typeof PVC_DOMAIN_STATES)[number];

export interface PvcNodeData {
  domain_state: PvcDomainState;
  /** Jobs of the flush or unflush in progress (a new domain state cancels those still queued). */
  jobs: number[];
}

/** A static DHCPv4 reservation (PVC's dhcp4_reservations). */
export interface PvcReservation {
  mac: string;
  ip: string;
  hostname: string;
}

/** One firewall rule; its order is its index in the direction's list. */
export interface PvcAcl {
  description: string;
  rule: string;
}

export const PVC_NET_TYPES = ["managed", "bridged"] as const;
export type PvcNetType = (typeof PVC_NET_TYPES)[number];

export interface PvcNetworkData {
  vni: number;
  type: PvcNetType;
  /** DNS domain of the network's hosts. */
  domain: string;
  dhcp4: boolean;
  dhcp4_start: string;
  dhcp4_end: string;
  reservations: PvcReservation[];
  acls: { in: PvcAcl[]; out: PvcAcl[] };
}

/** The bridge a VM NIC on network `vni` plugs into (PVC's naming; clients read the digits). */
export const pvcBridge = (vni: number): string => `vmbr${vni}`;

/**
 * Whether an ACL rule can go into a chain as one statement: one line, no statement
 * separator or comment that could end the rule early, braces balanced (anonymous sets).
 */
export function aclRuleProblem(rule: string): string | undefined {
  if (rule.trim() === "") return "the rule is empty";
  if (/[\n\r;#]/.test(rule)) return "a rule is one nftables statement: no newline, ';' or '#'";
  let depth = 0;
  for (const ch of rule) {
    if (ch === "{") depth++;
    if (ch === "}" && --depth < 0) return "unbalanced braces";
  }
  if (depth !== 0) return "unbalanced braces";
  return undefined;
}
