// parameters.list files (OS definitions and ExtStorage providers): one parameter per line,
// name then description, separated by spaces or tabs.

export function parseParameterList(text: string): [string, string][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return [m[1], m[2]];
    });
}
