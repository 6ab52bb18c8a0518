// An instance's consoles in the browser: its screen with noVNC, its serial console with
// xterm.js. Both speak to a WebSocket of the master (/ui/console/<instance>/<kind>), which
// reaches the console through the node agent; the session cookie and the page's origin are
// what the master checks.

import { useEffect, useRef, useState } from "preact/hooks";
import RFB from "@novnc/novnc";
import { Terminal } from "@xterm/xterm";
import { enc } from "../api.ts";

const socketUrl = (name: string, kind: string) =>
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ui/console/${enc(name)}/${kind}`;

export function ConsolePage({ name, kind }: { name: string; kind: "vnc" | "serial" }) {
  const screen = useRef<HTMLDivElement>(null);
  const [state, setState] = useState("connecting");
  const [rfb, setRfb] = useState<RFB | null>(null);

  useEffect(() => {
    const target = screen.current;
    if (!target) return;
    if (kind === "vnc") {
      const r = new RFB(target, socketUrl(name, "vnc"));
      r.scaleViewport = true;
      r.addEventListener("connect", () => setState("connected"));
      r.addEventListener("disconnect", () => setState("disconnected"));
      setRfb(r);
      return () => r.disconnect();
    }
    const term = new Terminal({ cursorBlink: true, fontSize: 14, lineHeight: 1.15, fontFamily: "'DejaVu Sans Mono', Menlo, Consolas, monospace", rows: 30, cols: 100 });
    term.open(target);
    const ws = new WebSocket(socketUrl(name, "serial"));
    ws.binaryType = "arraybuffer";
    const encoder = new TextEncoder();
    ws.addEventListener("open", () => {
      setState("connected");
      term.focus();
    });
    ws.addEventListener("message", (e: MessageEvent<ArrayBuffer>) => term.write(new Uint8Array(e.data)));
    ws.addEventListener("close", (e) => setState(e.reason ? `disconnected: ${e.reason}` : "disconnected"));
    const input = term.onData((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    return () => {
      input.dispose();
      ws.close();
      term.dispose();
    };
  }, [name, kind]);

  return (
    <div>
      <h2>
        <a href={`#/instances/${enc(name)}`}>{name}</a>: {kind === "vnc" ? "screen" : "serial console"}{" "}
        <span class="muted" id="console-state">({state})</span>
      </h2>
      {kind === "vnc" && rfb && state === "connected" && (
        <div class="actions"><button onClick={() => rfb.sendCtrlAltDel()}>Send Ctrl-Alt-Del</button></div>
      )}
      <div ref={screen} id={kind === "vnc" ? "vnc-screen" : "serial-terminal"} class={kind === "vnc" ? "vnc-screen" : "terminal"} />
    </div>
  );
}
