import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQueryFilter } from "./qfilter.ts";
import { parseKeyValues, parseUnit } from "./params.ts";

test("the query language becomes Query2 filter lists", () => {
  assert.deepEqual(parseQueryFilter('name == "web1"'), ["==", "name", "web1"]);
  assert.deepEqual(parseQueryFilter("be/vcpus >= 2 and name =~ m/^web/i"), ["&", [">=", "be/vcpus", 2], ["=~", "name", "(?i)^web"]]);
  assert.deepEqual(parseQueryFilter("offline or not drained and pinst_cnt > 0"), ["|", ["?", "offline"], ["&", ["!", ["?", "drained"]], [">", "pinst_cnt", 0]]]);
  assert.deepEqual(parseQueryFilter('(a == 1 or b == 2) and c != \'x y\''), ["&", ["|", ["==", "a", 1], ["==", "b", 2]], ["!=", "c", "x y"]]);
  assert.deepEqual(parseQueryFilter('"prod" in tags'), ["=[]", "tags", "prod"]);
  assert.deepEqual(parseQueryFilter("prod not in tags"), ["!", ["=[]", "tags", "prod"]]);
  assert.deepEqual(parseQueryFilter("name =~ /a\\/b/"), ["=~", "name", "a/b"]);
});

test("malformed filters say what is wrong", () => {
  assert.throws(() => parseQueryFilter("name =="), /a value missing at the end/);
  assert.throws(() => parseQueryFilter('name == "x'), /an unterminated string at column 9/);
  assert.throws(() => parseQueryFilter("(a or b"), /a '\)' missing/);
  assert.throws(() => parseQueryFilter("name =~ x"), /a regular expression/);
  assert.throws(() => parseQueryFilter("a == 1 b"), /'b' unexpected/);
  assert.throws(() => parseQueryFilter(""), /nothing/);
});

test("sizes and parameters as gnt-* takes them", () => {
  assert.equal(parseUnit("512"), 512);
  assert.equal(parseUnit("10G"), 10240);
  assert.equal(parseUnit("1.5t"), 1572864);
  assert.equal(parseUnit("1m"), 4, "rounded up to 4 MiB");
  assert.throws(() => parseUnit("ten"), /invalid size 'ten'/);
  assert.deepEqual(parseKeyValues("maxmem=1G,vcpus=2,kernel_path=/boot/x,no_auto_balance,-spindle_use", "-B"),
    { maxmem: 1024, vcpus: 2, kernel_path: "/boot/x", auto_balance: false, spindle_use: null });
});
