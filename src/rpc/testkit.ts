// Helpers for the tests of node calls and the console channel, on any transport.

import assert from "node:assert/strict";
import { RpcCallError } from "./errors.ts";

/** The failure of `call`, which must fail as an RpcCallError. */
export async function failureOf(call: Promise<unknown>): Promise<RpcCallError> {
  const err = await call.then(() => assert.fail("the call succeeded"), (e: unknown) => e);
  assert.ok(err instanceof RpcCallError, String(err));
  return err;
}
