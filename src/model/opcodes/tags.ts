import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";

export const TAG_KINDS = ["network", "cluster", "node", "nodegroup", "instance"] as const;
export type TagKind = (typeof TAG_KINDS)[number];

export const OpTagsGet = defineOpcode({
  id: "OP_TAGS_GET",
  className: "OpTagsGet",
  doc: "Returns the tags of the given object.",
  result: "List of NonEmptyString",
  params: {
    kind: req(t.oneOf(...TAG_KINDS), "Tag kind"),
    use_locking: opt(t.bool, false, "Whether to use synchronization"),
    name: opt(t.maybe(t.string), null, "Name of object to retrieve tags from"),
  },
});

export const OpTagsSet = defineOpcode({
  id: "OP_TAGS_SET",
  className: "OpTagsSet",
  doc: "Add a list of tags on a given object.",
  result: "None",
  params: {
    kind: req(t.oneOf(...TAG_KINDS), "Tag kind"),
    tags: req(t.listOf(t.string), "List of tag names"),
    name: opt(t.maybe(t.string), null, "Name of object where tag(s) should be added"),
  },
});

export const OpTagsDel = defineOpcode({
  id: "OP_TAGS_DEL",
  className: "OpTagsDel",
  doc: "Remove a list of tags from a given object.",
  result: "None",
  params: {
    kind: req(t.oneOf(...TAG_KINDS), "Tag kind"),
    tags: req(t.listOf(t.string), "List of tag names"),
    name: opt(t.maybe(t.string), null, "Name of object where tag(s) should be deleted"),
  },
});
