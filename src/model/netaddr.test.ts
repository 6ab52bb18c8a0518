import assert from "node:assert/strict";
import { test } from "node:test";
import { isIPv4Address, isIPv4Network, isIPv6Address, isIPv6Network } from "./netaddr.ts";

const cases = (fn: (s: string) => boolean, good: string[], bad: string[]) => {
  for (const s of good) assert.equal(fn(s), true, `${fn.name}(${JSON.stringify(s)})`);
  for (const s of bad) assert.equal(fn(s), false, `${fn.name}(${JSON.stringify(s)})`);
};

test("IPv4 addresses", () => {
  cases(
    isIPv4Address,
    ["0.0.0.0", "10.0.0.1", "255.255.255.255", "127.100.8.1"],
    ["", "10.0.0", "10.0.0.1.2", "256.0.0.1", "127.100.300.0", "01.2.3.4", "1.2.3.4/32", "1.2.3.-4", "a.b.c.d", " 1.2.3.4", "1234.1.1.1"],
  );
});

test("IPv4 networks are strict", () => {
  cases(
    isIPv4Network,
    ["10.0.0.0/8", "127.100.8.0/24", "10.0.0.1", "10.0.0.1/32", "0.0.0.0/0", "10.0.0.0/255.0.0.0", "10.0.0.0/0.255.255.255"],
    ["127.100.300.0/24", "10.0.0.1/24", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/255.0.255.0", "10.0.0.0/+8", "/8"],
  );
});

test("IPv6 addresses", () => {
  cases(
    isIPv6Address,
    ["::", "::1", "1::", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1", "fe80::1%eth0", "1:2:3:4:5:6:7::"],
    ["", ":", "1:2", ":1::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7:8::", "::1.2.3", "fe80::1%", "1::2/64"],
  );
});

test("IPv6 networks are strict", () => {
  cases(
    isIPv6Network,
    ["2001:db8::/32", "::/0", "::1", "::1/128", "fd00::/8"],
    ["2001:db8::1/32", "2001:db8::/129", "2001:db8::/", "2001:db8::/x", "1.2.3.0/24"],
  );
});
