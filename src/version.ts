// The version Corral reports (RAPI's /2/info vcs_version, the Server header, `corral version`).
export const CORRAL_VERSION = "0.1.0";
