// The agent's console channel: a raw byte stream to a running instance's VNC display or serial
// console, for the master's browser console. Not a node call (bytes, not JSON): the HTTPS
// server hands it an upgraded connection (rpc/console.ts); the embedded master calls it directly.

import { consoleKindProblem, isConsoleKind } from "../../model/console.ts";
import { ECODE } from "../../model/errors.ts";
import type { ConsoleOpener } from "../../rpc/console.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { KvmHypervisor } from "../hypervisor/kvm/kvm.ts";
import { argError, checkName } from "../util/names.ts";
import type { AgentParts } from "./parts.ts";

export function consoleChannel(a: AgentParts): ConsoleOpener {
  return {
    async openConsole(instance, kind) {
      const name = checkName(instance, "instance name");
      if (!isConsoleKind(kind)) throw argError(consoleKindProblem(kind));
      // No instance lock: a console must open while a long shutdown or a migration holds it;
      // a domain that goes away meanwhile ends the stream.
      for (const hvName of a.hypervisorNames()) {
        const hv = a.hypervisor(hvName);
        if (!(await hv.instanceInfo(name))) continue;
        if (hv instanceof KvmHypervisor) return hv.openConsole(name, kind);
        throw new AgentError(AGENT_ERRORS.hypervisor, `Instance ${name} has no console on node ${a.nodeName}: its hypervisor ${hv.name} has none`, ECODE.inval);
      }
      throw new AgentError(AGENT_ERRORS.hypervisor, `Instance ${name} is not running on node ${a.nodeName}`, ECODE.state);
    },
  };
}
