// The consoles of an instance a console channel reaches: its VNC screen (RFB bytes) and its
// serial console. Here, in the model, so that every layer (the agent, the transports, the
// master and its web front) names them alike.

export const CONSOLE_KINDS = ["vnc", "serial"] as const;

export type ConsoleKind = (typeof CONSOLE_KINDS)[number];

export function isConsoleKind(value: unknown): value is ConsoleKind {
  return typeof value === "string" && (CONSOLE_KINDS as readonly string[]).includes(value);
}

/** Why `value` is no console kind, in the words a caller sees. */
export function consoleKindProblem(value: unknown): string {
  return `Invalid console kind ${JSON.stringify(value)}: expected ${CONSOLE_KINDS.join(" or ")}`;
}
