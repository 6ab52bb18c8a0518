// Small helpers the `corral` commands share.

/** A whole-number option, or its default; a malformed one is an error for the operator. */
export function intOption(name: string, value: string | undefined, fallback: number): number;
export function intOption(name: string, value: string | undefined, fallback?: number): number | undefined;
export function intOption(name: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} needs a whole number, not '${value}'`);
  return Number(value);
}

/** Stops a daemon cleanly on SIGTERM or SIGINT. */
export function stopOnSignals(close: () => Promise<void>, log: (line: string) => void): void {
  const stop = (signal: string) => {
    log(`received ${signal}, stopping`);
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
