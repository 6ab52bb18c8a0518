// The master↔node protocol: call table, errors, transports and the cluster certificate.
export * from "./calls.ts";
export * from "./errors.ts";
export { buildClient, type NodeRpcClient, type TermSource } from "./client.ts";
export type { ServedAgent, TermGate } from "./dispatch.ts";
export { inProcessClient } from "./inprocess.ts";
export { httpsClient, serveNodeRpc, type HttpsClientOptions, type RpcServer, type ServeOptions, type TlsIdentity } from "./https.ts";
export { certFingerprint, generateClusterCert, loadClusterCert, saveClusterCert, type ClusterCert, type ClusterCertOptions } from "./certs.ts";
