// Guest operating systems (OP_OS_*).
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";

export const OpOsDiagnose = defineOpcode({
  id: "OP_OS_DIAGNOSE",
  className: "OpOsDiagnose",
  doc: "Compute the list of guest operating systems.",
  result: "List of (List of Anything)",
  params: {
    output_fields: req(t.listOf(t.nonEmptyString), "Selected output fields"),
    names: opt(t.listOf(t.nonEmptyString), () => [], "Which operating systems to diagnose"),
  },
});
