// How the PVC API answers failures: a JSON body {"message": ...}.
//
// The one status code for a failed command. PVC's manual (v0.5) says 510; PVC's own code
// has sent 400 since before v0.5 shipped (commit "Replace retcodes with 400"), and v0.6's
// CLI and every later PVC version use 400. Corral sends 400: what clients really get from
// PVC, and a status HTTP intermediaries understand (510 "Not Extended" means something else).
export const PVC_FAILURE_STATUS = 400;

export class PvcError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** A failed command: PVC's message with the failure status. */
export const pvcFailure = (message: string): PvcError => new PvcError(PVC_FAILURE_STATUS, message);

/** An empty list or an unknown object: 404 with PVC's "<Kind> not found." */
export const notFound = (kind: string): PvcError => new PvcError(404, `${kind} not found.`);

/** PVC writes every `"` of a message as `'` (its JSON wrapping does). */
export function pvcMessage(text: string): string {
  return text.replace(/"/g, "'");
}
