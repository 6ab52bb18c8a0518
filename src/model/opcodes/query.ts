// Generic resource queries (OP_QUERY, OP_QUERY_FIELDS).
import { QUERY_RESOURCES } from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";

export const OpQuery = defineOpcode({
  id: "OP_QUERY",
  className: "OpQuery",
  doc: "Query for resources/items.",
  result: `Dictionary containing none but the required keys "fields" (value List of (Dictionary containing none but the required keys "name" (value NonEmptyString), "title" (value NonEmptyString), "kind" (value OneOf timestamp, float, other, unit, unknown, number, bool, text), "doc" (value NonEmptyString))), "data" (value List of (List of ((Length 2) and (Item 0 is (OneOf 0, 1, 2, 3, 4), item 1 is Anything))))`,
  summaryField: "what",
  params: {
    what: req(t.oneOf(...QUERY_RESOURCES), "Resource(s) to query for"),
    use_locking: opt(t.bool, false, "Whether to use synchronization"),
    fields: req(t.listOf(t.nonEmptyString), "Requested fields"),
    qfilter: opt(t.maybe(t.listOf(t.any)), null, "Query filter"),
  },
});

export const OpQueryFields = defineOpcode({
  id: "OP_QUERY_FIELDS",
  className: "OpQueryFields",
  doc: "Query for available resource/item fields.",
  result: `Dictionary containing none but the required key "fields" (value List of (Dictionary containing none but the required keys "name" (value NonEmptyString), "title" (value NonEmptyString), "kind" (value OneOf timestamp, float, other, unit, unknown, number, bool, text), "doc" (value NonEmptyString)))`,
  summaryField: "what",
  params: {
    what: req(t.oneOf(...QUERY_RESOURCES), "Resource(s) to query for"),
    fields: opt(
      t.maybe(t.listOf(t.nonEmptyString)),
      null,
      "Requested fields; if not given, all are returned",
    ),
  },
});
