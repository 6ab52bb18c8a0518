// Test support for a standby master (src/api/http/forward.ts): a LeaderLocator the test
// drives, and a port where nothing listens (a leader that is down).

import { createServer } from "node:net";
import type { LeaderInfo, LeaderLocator } from "../../src/api/http/forward.ts";

/** Who leads is whatever the test says now. */
export class TestLocator implements LeaderLocator {
  leading = false;
  current: LeaderInfo | undefined;
  leads(): boolean {
    return this.leading;
  }
  leader(): LeaderInfo | undefined {
    return this.current;
  }
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
