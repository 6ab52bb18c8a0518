// IP address and network syntax as Python's `ipaddress` module accepts it (Ganeti checks
// network opcode parameters with IPv4Address/IPv4Network/IPv6Address/IPv6Network).
// Networks are strict: host bits must be zero.

const DIGITS = /^[0-9]+$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** "a.b.c.d" as a 32-bit number, or null. Octets are decimal without leading zeros. */
export function parseIPv4(text: string): number | null {
  const octets = text.split(".");
  if (octets.length !== 4) return null;
  let value = 0;
  for (const octet of octets) {
    if (!DIGITS.test(octet) || octet.length > 3) return null;
    if (octet.length > 1 && octet[0] === "0") return null;
    const n = Number(octet);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

/** An IPv6 address (optionally with an embedded IPv4 tail and a %scope) as a bigint, or null. */
function parseIPv6(text: string): bigint | null {
  const percent = text.indexOf("%");
  if (percent >= 0) {
    const scope = text.slice(percent + 1);
    if (scope === "" || scope.includes("%")) return null;
    text = text.slice(0, percent);
  }
  const parts = text.split(":");
  if (parts.length < 3) return null;
  const last = parts[parts.length - 1];
  if (last.includes(".")) {
    const v4 = parseIPv4(last);
    if (v4 === null) return null;
    parts.splice(parts.length - 1, 1, (v4 >>> 16).toString(16), (v4 & 0xffff).toString(16));
  }
  if (parts.length > 9) return null;

  let skip: number | null = null;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === "") {
      if (skip !== null) return null; // at most one "::"
      skip = i;
    }
  }
  let hi: number;
  let lo: number;
  if (skip !== null) {
    hi = skip;
    lo = parts.length - skip - 1;
    if (parts[0] === "" && --hi !== 0) return null; // a leading ":" only as part of "::"
    if (parts[parts.length - 1] === "" && --lo !== 0) return null;
    if (8 - (hi + lo) < 1) return null;
  } else {
    if (parts.length !== 8 || parts[0] === "" || parts[7] === "") return null;
    hi = 8;
    lo = 0;
  }
  const hextets = [...parts.slice(0, hi), ...Array<string>(8 - hi - lo).fill("0"), ...parts.slice(parts.length - lo)];
  let value = 0n;
  for (const h of hextets) {
    if (!HEXTET.test(h)) return null;
    value = (value << 16n) | BigInt(parseInt(h, 16));
  }
  return value;
}

/** Prefix length of a dotted IPv4 netmask (1*0*) or hostmask (0*1*), or null. */
function ipv4MaskPrefix(text: string): number | null {
  const mask = parseIPv4(text);
  if (mask === null) return null;
  for (const m of [mask, ~mask >>> 0]) {
    for (let prefix = 0; prefix <= 32; prefix++) {
      if (m === (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) return prefix;
    }
  }
  return null;
}

function parsePrefix(text: string, max: number): number | null {
  if (!DIGITS.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

export function isIPv4Address(text: string): boolean {
  return parseIPv4(text) !== null;
}

export function isIPv6Address(text: string): boolean {
  return parseIPv6(text) !== null;
}

/** A 32-bit number as "a.b.c.d". */
export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/**
 * "a.b.c.d", "a.b.c.d/len" or "a.b.c.d/netmask-or-hostmask" with the host bits zero, as
 * its base address and prefix length; null otherwise.
 */
export function parseIPv4Network(text: string): { base: number; prefix: number } | null {
  const [addr, mask, ...rest] = text.split("/");
  if (rest.length > 0) return null;
  const value = parseIPv4(addr);
  if (value === null) return null;
  const prefix = mask === undefined ? 32 : (parsePrefix(mask, 32) ?? ipv4MaskPrefix(mask));
  if (prefix === null) return null;
  const hostBits = prefix === 32 ? 0 : (0xffffffff >>> prefix);
  return (value & hostBits) === 0 ? { base: value, prefix } : null;
}

export function isIPv4Network(text: string): boolean {
  return parseIPv4Network(text) !== null;
}

/** "addr" or "addr/len" (0..128), host bits zero. */
export function isIPv6Network(text: string): boolean {
  const [addr, mask, ...rest] = text.split("/");
  if (rest.length > 0) return false;
  const value = parseIPv6(addr);
  if (value === null) return false;
  const prefix = mask === undefined ? 128 : parsePrefix(mask, 128);
  if (prefix === null) return false;
  const hostBits = (1n << BigInt(128 - prefix)) - 1n;
  return (value & hostBits) === 0n;
}
