// corral-image, the shipped OS definition that writes a disk image (raw or qcow2, a file on
// the node named by the `image` OS parameter) onto an instance's first disk with qemu-img.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { openSync, readSync, closeSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { call, runJob, suiteMaster } from "../support/cluster.ts";
import { requireTools } from "../support/tools.ts";

const needs = requireTools({ tools: ["qemu-img"] });

/** The first `n` bytes of a file. */
function head(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 0);
    return buf;
  } finally {
    closeSync(fd);
  }
}

needs.describe("the corral-image OS", () => {
  const m = suiteMaster();
  const dir = mkdtempSync(join(tmpdir(), "corral-images-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const content = Buffer.concat([Buffer.from("CORRAL-IMAGE-TEST-BOOT-SECTOR"), Buffer.alloc(1024 * 1024 - 29, 0x5a)]);
  const raw = join(dir, "small.raw");
  writeFileSync(raw, content);
  const qcow2 = join(dir, "small.qcow2");
  execFileSync(needs.path("qemu-img"), ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);

  const create = (name: string, osparams: Record<string, unknown>, size = 1024) =>
    runJob(m.port, "POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "file", disks: [{ size }], nics: [{}],
      os_type: "corral-image+default", osparams, beparams: { maxmem: 128, minmem: 128, vcpus: 1 },
      ip_check: false, name_check: false, start: false,
    });
  /** Where disk 0 of a file-template instance is (logical_id [driver, path]). */
  const diskPath = (name: string) => {
    const found = [...m.t.master.store.snapshot().instances.values()].find((i) => i.name === name);
    assert.ok(found, `${name} exists`);
    return String(found.disks[0].logical_id[1]);
  };

  for (const [label, image] of [["raw", raw], ["qcow2", qcow2]] as const) {
    it(`writes a ${label} image onto disk 0`, async () => {
      const name = `img-${label}.corral.test`;
      const job = await create(name, { image });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.deepEqual(head(diskPath(name), content.length), content);
    });
  }

  it("refuses a missing image, a relative path and an image larger than the disk, creating nothing", async () => {
    for (const [osparams, why] of [
      [{ image: join(dir, "nope.raw") }, /not a readable file/],
      [{ image: "small.raw" }, /must be an absolute path/],
      [{ image: raw, image_format: "vmdk" }, /image_format must be raw, qcow2 or auto/],
    ] as const) {
      const job = await create("img-bad.corral.test", osparams);
      assert.equal(job.status, "error");
      assert.match(JSON.stringify(job.opresult), why);
    }
    const big = join(dir, "big.raw");
    execFileSync(needs.path("qemu-img"), ["create", "-f", "raw", big, "2G"]);
    const job = await create("img-big.corral.test", { image: big }, 1024);
    assert.equal(job.status, "error");
    assert.match(JSON.stringify(job.opresult), /grow the disk first/);
    const names = ((await call(m.port, "GET", "/2/instances")).json as { id: string }[]).map((i) => i.id);
    assert.ok(!names.includes("img-bad.corral.test") && !names.includes("img-big.corral.test"), names.join(","));
  });
});
