// Browser tests of the web console: Debian's chromium driven by playwright-core (no browser
// download). Screenshots go to test-artifacts/web-console/ for people to look at.

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { requireTools } from "./tools.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const ARTIFACTS = join(ROOT, "test-artifacts", "web-console");

export const browserNeeds = requireTools({ tools: ["chromium"] });

export async function launchBrowser(): Promise<Browser> {
  assert.ok(existsSync(join(ROOT, "ui", "dist", "app.js")), "the web console is not built (scripts/install.sh runs node ui/build.ts)");
  // --no-sandbox: the suite runs as root, where Chromium's sandbox refuses to start.
  return await chromium.launch({ executablePath: browserNeeds.path("chromium"), args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** A fresh browser profile (its own cookies) on the master's self-signed certificate. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  return await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
}

export async function logIn(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.fill("#login input[name=username]", user);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#user");
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
