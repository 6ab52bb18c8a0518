// Screens of a progress bar captured from a real terminal (tmux capture-pane), checked the one
// way the command line promises: at most one bar at a time, updated in place — what is above it
// stays, and it moves down only past lines printed above it.

import assert from "node:assert/strict";

/** Checks every screen; returns the percentages the bar showed, in order of first sight. */
export function checkOneBarInPlace(screens: readonly string[], bar: RegExp): number[] {
  let previous: { row: number; rows: string[] } | undefined;
  const percents = new Set<number>();
  for (const screen of screens) {
    const rows = screen.split("\n");
    const at = rows.flatMap((r, i) => (bar.test(r) ? [i] : []));
    assert.ok(at.length <= 1, `one bar on the screen, not a scroll of them:\n${screen}`);
    if (!at.length) continue;
    percents.add(Number(bar.exec(rows[at[0]])![1]));
    if (previous) {
      assert.ok(at[0] >= previous.row, `the bar went up:\n${screen}`);
      assert.deepEqual(rows.slice(0, previous.row), previous.rows.slice(0, previous.row), `the lines above the bar changed:\n${screen}`);
    }
    previous = { row: at[0], rows };
  }
  return [...percents];
}
