// The web console with a real guest (QEMU under TCG) in Debian's chromium: started from its
// page, its serial console in xterm.js shows the guest's boot marker, its screen in noVNC is
// drawn, and a live migration to a second node (another agent in its own network namespace)
// shows its progress bar while the job's log comes in. One boot in all.

import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserNeeds, launchBrowser, logIn, newContext, screenshot } from "../support/browser.ts";
import { call, USERS } from "../support/cluster.ts";
import { BOOT_MS, joinPeerNode, startKvmCluster, type KvmCluster, type PeerNode } from "../support/kvm.ts";
import { requireTestGuest } from "../support/test-guest.ts";
import { allOf, requireTools } from "../support/tools.ts";

const needs = await requireTestGuest();
const net = requireTools({ tools: ["ip"], root: true });

const NODE1 = "node1.corral.test";
const NODE2 = "node2.corral.test";
const WEB = "web.corral.test";
const NODE1_IP = "10.213.79.1";
const NODE2_IP = "10.213.79.2";

allOf(needs, net, browserNeeds).describe("the web console of a kvm guest (chromium, QEMU)", () => {
  let c: KvmCluster;
  let node2: PeerNode | undefined;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let base = "";

  before(async () => {
    c = await startKvmCluster({ guest: needs.guest, ipPath: net.path("ip"), nodeIp: NODE1_IP, ssl: true });
    try {
      // A slow migration (16 MiB/s): several progress lines for the page to show.
      await c.ok("PUT", "/2/modify", {
        enabled_disk_templates: ["sharedfile", "file", "diskless"],
        ipolicy: { "disk-templates": ["sharedfile", "file", "diskless"] },
        hvparams: { kvm: { migration_bandwidth: 16 } },
      });
      node2 = await joinPeerNode(c, { prefix: "cweb", name: NODE2, nearIp: NODE1_IP, farIp: NODE2_IP });
      await c.ok("POST", "/2/instances", {
        __version__: 1, mode: "create", name: WEB, disk_template: "sharedfile", disks: [{ size: 1024 }], pnode: NODE1,
        nics: [{ mode: "bridged", link: "br0" }], os_type: "corral-marker+default", hypervisor: "kvm",
        beparams: { maxmem: 256, minmem: 256, vcpus: 1 }, start: false, ip_check: false, name_check: false,
      });
      base = `https://127.0.0.1:${c.port}`;
      browser = await launchBrowser();
      ctx = await newContext(browser);
      page = await ctx.newPage();
    } catch (err) {
      await closeAll();
      throw err;
    }
  });

  const closeAll = async () => {
    await browser?.close();
    await node2?.close([WEB]);
    await c?.close([WEB]);
  };
  after(closeAll);

  it("starts the guest from its page and shows the boot marker on its serial console", async () => {
    await logIn(page, base, "writer", USERS.writer);
    await page.waitForSelector(`#instances tr[data-instance="${WEB}"] [data-status=ADMIN_down]`);
    await page.click(`#instances a[href="#/instances/${encodeURIComponent(WEB)}"]`);
    await page.click('#actions button[data-action="Start"]');
    await page.waitForSelector("h2 [data-status=running]", { timeout: BOOT_MS });
    await page.click('[data-console="serial"]');
    await page.waitForSelector("#console-state:has-text('connected')");
    // The console starts with its recent history, so the boot marker is there however early it came.
    await page.locator("#serial-terminal", { hasText: "CORRAL_BOOT" }).waitFor({ timeout: BOOT_MS });
    await page.locator("#serial-terminal", { hasText: "CORRAL_HB" }).waitFor({ timeout: BOOT_MS });
    await screenshot(page, "serial-console");
  });

  it("shows the guest's screen with noVNC: the canvas is drawn", async () => {
    await page.goto(`${base}/ui/#/instances/${encodeURIComponent(WEB)}`);
    await page.click('[data-console="vnc"]');
    await page.waitForSelector("#console-state:has-text('(connected)')", { timeout: 30_000 });
    await page.waitForSelector("#vnc-screen canvas");
    // Non-black pixels: the VGA text screen (BIOS and boot lines) as noVNC drew it.
    // (A function, not a string: the console's CSP forbids eval, Playwright's string form included.)
    const lit = await page.waitForFunction(
      () => {
        type Canvas = { width: number; height: number; getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
        const canvas = (globalThis as unknown as { document: { querySelector(s: string): Canvas | null } }).document.querySelector("#vnc-screen canvas");
        if (!canvas || canvas.width === 0) return 0;
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 90) count++;
        return count > 200 ? count : 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    assert.ok(Number(await lit.jsonValue()) > 200);
    await screenshot(page, "vnc-console");
  });

  it("migrates the guest to node2 from its page, showing the migration's progress", async () => {
    await page.goto(`${base}/ui/#/instances/${encodeURIComponent(WEB)}`);
    await page.selectOption("#migrate-target", NODE2);
    await page.click('#actions button[data-action="Migrate"]');
    // The bar appears while the job runs: its first progress line arrives through the stream.
    await page.waitForSelector(".progress[data-topic='memory transfer'] progress", { timeout: 60_000 });
    assert.equal(await page.locator("#job-status [data-status=success]").count(), 0, "the bar showed while the job ran");
    await screenshot(page, "migration-progress");
    await page.waitForSelector("#job-status [data-status=success]", { timeout: 180_000 });
    await page.waitForSelector(".progress progress[value='100']");
    await page.locator("dd", { hasText: NODE2 }).first().waitFor();
    const info = (await call(c.port, "GET", `/2/instances/${WEB}`, {}, true)).json as { pnode: string };
    assert.equal(info.pnode, NODE2);
    await screenshot(page, "migration-done");
  });
});
