import assert from "node:assert/strict";
import { test } from "node:test";
import { RequestFamilies } from "./http.ts";

test("buckets are cumulative, a value on a bound counts in that bound's bucket, and +Inf is the count", () => {
  const f = new RequestFamilies();
  for (const s of [0.0004, 0.0005, 0.002, 0.002, 120]) f.observe("/2/info", "GET", 200, s);
  f.observe("/2/info", "GET", 404, 0.001);
  const lines = f.text().split("\n");
  const sample = (suffix: string) => lines.find((l) => l.startsWith(`corral_http_request_duration_seconds${suffix}`))?.split(" ")[1];
  const labels = 'route="/2/info",method="GET",code="200"';
  assert.equal(sample(`_bucket{${labels},le="0.0005"}`), "2");
  assert.equal(sample(`_bucket{${labels},le="0.001"}`), "2");
  assert.equal(sample(`_bucket{${labels},le="0.0025"}`), "4");
  assert.equal(sample(`_bucket{${labels},le="60"}`), "4");
  assert.equal(sample(`_bucket{${labels},le="+Inf"}`), "5");
  assert.equal(sample(`_count{${labels}}`), "5");
  assert.equal(Number(sample(`_sum{${labels}}`)), 0.0004 + 0.0005 + 0.002 + 0.002 + 120);
  assert.ok(lines.includes(`corral_http_requests_total{${labels}} 5`));
  assert.ok(lines.includes('corral_http_requests_total{route="/2/info",method="GET",code="404"} 1'));
  assert.ok(lines.includes("# TYPE corral_http_request_duration_seconds histogram"));
});

test("label values are escaped as the text format wants", () => {
  const f = new RequestFamilies();
  f.observe('a"b\\c\nd', "GET", 200, 0.1);
  assert.ok(f.text().includes('corral_http_requests_total{route="a\\"b\\\\c\\nd",method="GET",code="200"} 1'));
});
