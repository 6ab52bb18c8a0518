// A network's IPv4 address pool (Ganeti's network.AddressPool): two bitmaps over every
// address of the subnet, one for addresses instance NICs use and one for external
// reservations (network, broadcast, gateway, addresses an admin keeps out). Stored on the
// Network object as strings of "0"/"1"; shown to clients as a map of "X" (taken) and ".".

import { AddressPoolError } from "./errors.ts";
import { formatIPv4, parseIPv4, parseIPv4Network } from "./netaddr.ts";
import type { Network } from "./objects.ts";

/** The smallest and largest subnets a pool may cover (prefix lengths, Ganeti's limits). */
export const IPV4_NETWORK_MIN_SIZE = 30;
export const IPV4_NETWORK_MAX_SIZE = 16;

export type PoolSource = Pick<Network, "network"> & Partial<Pick<Network, "reservations" | "ext_reservations">>;

export class AddressPool {
  /** The subnet as Python's ipaddress prints it ("10.0.0.0/24"), for messages. */
  readonly cidr: string;
  readonly size: number;
  private readonly base: number;
  private readonly used: Uint8Array;
  private readonly external: Uint8Array;

  /** The pool of an existing network; empty bitmaps (a new network) mean all free. */
  constructor(net: PoolSource) {
    const parsed = parseIPv4Network(net.network);
    if (!parsed) throw new AddressPoolError(`'${net.network}' does not appear to be an IPv4 network`);
    this.base = parsed.base;
    this.size = 2 ** (32 - parsed.prefix);
    this.cidr = `${formatIPv4(parsed.base)}/${parsed.prefix}`;
    if (this.size > 2 ** (32 - IPV4_NETWORK_MAX_SIZE)) {
      throw new AddressPoolError(
        `A big network with ${this.size} host(s) is currently not supported. please specify at most a /${IPV4_NETWORK_MAX_SIZE} network`,
      );
    }
    if (this.size < 2 ** (32 - IPV4_NETWORK_MIN_SIZE)) {
      throw new AddressPoolError(
        `A network with only ${this.size} host(s) is too small, please specify at least a /${IPV4_NETWORK_MIN_SIZE} network`,
      );
    }
    this.used = this.bitmap(net.reservations);
    this.external = this.bitmap(net.ext_reservations);
  }

  /** A new network's pool: network and broadcast addresses and the gateway reserved. */
  static create(network: string, gateway: string | null): AddressPool {
    const pool = new AddressPool({ network });
    pool.reserve(pool.addressAt(0), true);
    pool.reserve(pool.addressAt(pool.size - 1), true);
    if (gateway !== null) pool.reserve(gateway, true);
    return pool;
  }

  /** Whether `ip` is an IPv4 address inside the subnet. */
  contains(ip: string | null | undefined): boolean {
    if (!ip) return false;
    const value = parseIPv4(ip);
    return value !== null && value - this.base >= 0 && value - this.base < this.size;
  }

  isReserved(ip: string, external = false): boolean {
    return (external ? this.external : this.used)[this.indexOf(ip)] === 1;
  }

  /** Marks `ip` taken by an instance NIC, or externally reserved. */
  reserve(ip: string, external = false): void {
    if (this.isReserved(ip, external)) {
      throw new AddressPoolError(external ? `IP ${ip} is already externally reserved` : `IP ${ip} is already used by an instance`);
    }
    (external ? this.external : this.used)[this.indexOf(ip)] = 1;
  }

  release(ip: string, external = false): void {
    if (!this.isReserved(ip, external)) {
      throw new AddressPoolError(external ? `IP ${ip} is not externally reserved` : `IP ${ip} is not used by an instance`);
    }
    (external ? this.external : this.used)[this.indexOf(ip)] = 0;
  }

  /** Addresses neither used nor reserved. */
  freeCount(): number {
    let free = 0;
    for (let i = 0; i < this.size; i++) if (!this.taken(i)) free++;
    return free;
  }

  reservedCount(): number {
    return this.size - this.freeCount();
  }

  isFull(): boolean {
    return this.freeCount() === 0;
  }

  /** One character per address: "X" used or reserved, "." free. */
  map(): string {
    let out = "";
    for (let i = 0; i < this.size; i++) out += this.taken(i) ? "X" : ".";
    return out;
  }

  externalReservations(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) if (this.external[i]) out.push(this.addressAt(i));
    return out;
  }

  /** The first free address (not reserved by this call). */
  generateFree(): string {
    for (let i = 0; i < this.size; i++) if (!this.taken(i)) return this.addressAt(i);
    throw new AddressPoolError(`${this.cidr} is full`);
  }

  /** The bitmaps to store on the Network object. */
  bitmaps(): Pick<Network, "reservations" | "ext_reservations"> {
    return { reservations: this.used.join(""), ext_reservations: this.external.join("") };
  }

  private taken(i: number): boolean {
    return this.used[i] === 1 || this.external[i] === 1;
  }

  private addressAt(index: number): string {
    return formatIPv4(this.base + index);
  }

  private indexOf(ip: string): number {
    const value = parseIPv4(ip);
    if (value === null) throw new AddressPoolError(`'${ip}' does not appear to be an IPv4 address`);
    const index = value - this.base;
    if (index < 0 || index >= this.size) throw new AddressPoolError(`${this.cidr} does not contain ${ip}`);
    return index;
  }

  private bitmap(bits: string | undefined): Uint8Array {
    const out = new Uint8Array(this.size);
    if (!bits) return out;
    if (bits.length !== this.size) {
      throw new AddressPoolError(`Address pool of ${this.cidr} has ${bits.length} entries, expected ${this.size}`);
    }
    for (let i = 0; i < this.size; i++) out[i] = bits.charCodeAt(i) === 49 ? 1 : 0;
    return out;
  }
}
