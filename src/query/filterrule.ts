// Job filter rule fields (Ganeti's Query/FilterRules.hs): 6, all of kind "other".

import type { FilterRule } from "../model/objects.ts";
import { field, FieldTable } from "./fields.ts";

export const filterRuleFields = new FieldTable<FilterRule>([
  field("watermark", "Watermark", "other", "Highest job ID used at the time when the filter was added", (f) => f.watermark),
  field("priority", "Priority", "other", "Filter priority", (f) => f.priority),
  field("predicates", "Predicates", "other", "List of filter predicates", (f) => f.predicates),
  field("action", "Action", "other", "Filter action", (f) => f.action),
  field("reason_trail", "ReasonTrail", "other", "Reason why this filter was added", (f) => f.reason_trail),
  field("uuid", "UUID", "other", "Filter ID", (f) => f.uuid),
]);
