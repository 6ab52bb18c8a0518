// The node agent's public face: what the `corral node` command and the embedded master (which
// runs a local agent behind the in-process transport) need.
export { NodeAgent, type NodeAgentOptions } from "./agent/agent.ts";
export { runNodeAgent, DEFAULT_NODE_PORT, type RunNodeAgentOptions, type RunningNodeAgent } from "./main.ts";
export { FakeHypervisor, FAKE_HV, type FakeHypervisorOptions } from "./hypervisor/fake.ts";
export type { Hypervisor, HvNodeInfo, HvStartSpec } from "./hypervisor/hypervisor.ts";
export type { DiskBackend, DiskContext } from "./storage/backend.ts";
export { DEFAULT_EXTSTORAGE_SEARCH_PATH, DEFAULT_OS_SEARCH_PATH, SHARE_DIR } from "./paths.ts";
