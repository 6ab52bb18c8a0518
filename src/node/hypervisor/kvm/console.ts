// The QEMU end of the agent's console channel: a connection to a running domain's private VNC
// display (vnc.sock, there when VNC is on) or to its serial chardev (serial.sock). QEMU serves
// one client at a time on the chardev and keeps a second one waiting in silence, so a serial
// console that a client holds is refused with a message instead (query-chardev tells). A
// serial console starts with the end of the console's log (its recent history).

import { open } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import type { ConsoleKind } from "../../../model/console.ts";
import { ECODE } from "../../../model/errors.ts";
import { errText } from "../../util/fsutil.ts";
import { consoleVncArgument, SERIAL_CHARDEV } from "./cmdline.ts";
import { hvError, type Domain } from "./domain.ts";
import { isInstanceQemu } from "./process.ts";

interface ChardevInfo {
  label: string;
  /** "disconnected:unix:…" while no client holds a socket chardev. */
  filename: string;
}

export async function connectConsole(d: Domain, kind: ConsoleKind): Promise<Socket> {
  if (!isInstanceQemu(d.pid, d.files.pidfile)) throw hvError(`Instance ${d.name} has no console: its QEMU (pid ${d.pid}) is not running`, ECODE.state);
  if (kind === "vnc") return connectUnix(vncSocket(d), `the VNC display of instance ${d.name}`);
  const chardevs = await d.qmp.execute<ChardevInfo[]>("query-chardev");
  const serial = chardevs.find((c) => c.label === SERIAL_CHARDEV);
  // A client that connects between this check and ours makes ours wait until it leaves.
  if (serial && !serial.filename.startsWith("disconnected:")) {
    throw hvError(`The serial console of instance ${d.name} is in use by another client (QEMU serves one at a time)`, ECODE.state);
  }
  const socket = await connectUnix(d.files.serial, `the serial console of instance ${d.name}`);
  // The console's recent history first (QEMU's chardev logfile), so that a console opened
  // after the boot still shows it: a line or two written in the instant between the connect
  // and this read can show twice, never be missing.
  const history = await consoleHistory(d.files.console);
  if (history.length > 0) socket.unshift(history);
  return socket;
}

/** How much of the serial console's history a new console starts with. */
const HISTORY_BYTES = 16 * 1024;

/** The end of the console log, from a line start; empty when there is none. */
async function consoleHistory(file: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - HISTORY_BYTES);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buf, 0, buf.length, start);
    const tail = buf.subarray(0, bytesRead);
    const lineStart = start === 0 ? 0 : tail.indexOf(0x0a) + 1;
    return tail.subarray(lineStart);
  } finally {
    await handle.close();
  }
}

/** The private display's socket, when the running QEMU was started with one. */
function vncSocket(d: Domain): string {
  const args = d.runtime.args;
  if (args.includes(consoleVncArgument(d.files))) return d.files.vnc;
  if (!args.includes("-vnc")) throw hvError(`Instance ${d.name} has no VNC console (its hvparam vnc_bind_address is not set)`, ECODE.inval);
  throw hvError(`Instance ${d.name} was started without the VNC display of the console channel (by an older Corral): restart it to get one`, ECODE.state);
}

function connectUnix(path: string, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const fail = (err: NodeJS.ErrnoException) => {
      const why = err.code === "ECONNREFUSED" ? "QEMU refused the connection" : err.code === "ENOENT" ? "the socket is missing" : errText(err);
      reject(hvError(`Cannot connect to ${what} (${path}): ${why}`, ECODE.environ));
    };
    socket.once("error", fail);
    socket.once("connect", () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}
