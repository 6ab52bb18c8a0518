import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressPool } from "./addresspool.ts";
import { AddressPoolError } from "./errors.ts";

const poolError = (message: string) => (err: unknown) => err instanceof AddressPoolError && err.message === message;

test("a new pool reserves network, broadcast and gateway addresses", () => {
  const pool = AddressPool.create("10.0.0.0/29", "10.0.0.1");
  assert.equal(pool.size, 8);
  assert.equal(pool.map(), "XX.....X");
  assert.equal(pool.freeCount(), 5);
  assert.equal(pool.reservedCount(), 3);
  assert.deepEqual(pool.externalReservations(), ["10.0.0.0", "10.0.0.1", "10.0.0.7"]);
  assert.deepEqual(pool.bitmaps(), { reservations: "00000000", ext_reservations: "11000001" });
  assert.equal(pool.generateFree(), "10.0.0.2");
});

test("reservations by instances and external ones are separate, and refused twice", () => {
  const pool = AddressPool.create("192.168.1.0/30", null);
  pool.reserve("192.168.1.1");
  assert.equal(pool.isReserved("192.168.1.1"), true);
  assert.equal(pool.isReserved("192.168.1.1", true), false);
  assert.throws(() => pool.reserve("192.168.1.1"), poolError("IP 192.168.1.1 is already used by an instance"));
  assert.throws(() => pool.reserve("192.168.1.0", true), poolError("IP 192.168.1.0 is already externally reserved"));
  assert.throws(() => pool.release("192.168.1.2"), poolError("IP 192.168.1.2 is not used by an instance"));
  assert.throws(() => pool.release("192.168.1.2", true), poolError("IP 192.168.1.2 is not externally reserved"));
  assert.throws(() => pool.reserve("192.168.2.1"), poolError("192.168.1.0/30 does not contain 192.168.2.1"));
  pool.reserve("192.168.1.2");
  assert.equal(pool.isFull(), true);
  assert.throws(() => pool.generateFree(), poolError("192.168.1.0/30 is full"));
  pool.release("192.168.1.1");
  assert.equal(pool.map(), "X.XX");
});

test("a pool reads the bitmaps it wrote, and contains only its own addresses", () => {
  const first = AddressPool.create("172.16.0.0/28", "172.16.0.14");
  first.reserve("172.16.0.5");
  const again = new AddressPool({ network: "172.16.0.0/28", ...first.bitmaps() });
  assert.equal(again.map(), first.map());
  assert.equal(again.contains("172.16.0.15"), true);
  assert.equal(again.contains("172.16.0.16"), false);
  assert.equal(again.contains("fe80::1"), false);
  assert.equal(again.contains(null), false);
});

test("networks bigger than /16 or smaller than /30 have no pool", () => {
  assert.throws(() => new AddressPool({ network: "10.0.0.0/15" }),
    poolError("A big network with 131072 host(s) is currently not supported. please specify at most a /16 network"));
  assert.throws(() => new AddressPool({ network: "10.0.0.0/31" }),
    poolError("A network with only 2 host(s) is too small, please specify at least a /30 network"));
  assert.equal(new AddressPool({ network: "10.0.0.0/16" }).size, 65536);
  assert.equal(new AddressPool({ network: "10.0.0.0/255.255.255.252" }).cidr, "10.0.0.0/30");
});
