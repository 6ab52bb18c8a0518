// Every field table against Ganeti 3.0.2's own `gnt-* list-fields` output: the same names,
// titles, kinds and descriptions.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FieldKind, FieldTable } from "./fields.ts";
import { filterRuleFields } from "./filterrule.ts";
import { goldenCli } from "./fixture.ts";
import { groupFields } from "./group.ts";
import { instanceFields } from "./instance.ts";
import { jobFields } from "./job.ts";
import { networkFields } from "./network.ts";
import { nodeFields } from "./node.ts";
import { exportFields } from "./export.ts";
import { lockFields } from "./lock.ts";
import { osFields } from "./os.ts";
import { FILTER_RULE_FIELDS, G_FIELDS, I_FIELDS, NET_FIELDS, N_FIELDS } from "./rapi.ts";

const CLI_KINDS: Record<string, FieldKind> = {
  Text: "text", Boolean: "bool", Number: "number", "Storage size": "unit", Timestamp: "timestamp",
  Custom: "other", "Floating-point number": "float",
};

interface CliField {
  name: string;
  kind: FieldKind;
  title: string;
  doc: string;
}

/** Parses a fixed-width `list-fields` table by its header's column offsets. */
function parseListFields(text: string): CliField[] {
  const [header, ...lines] = text.split("\n").filter((l) => l.trim() !== "");
  const cols = ["Type", "Title", "Description"].map((h) => header.indexOf(h));
  return lines.map((l) => {
    const cut = (a: number, b?: number) => l.slice(a, b).trim();
    return {
      name: cut(0, cols[0]),
      kind: CLI_KINDS[cut(cols[0], cols[1])],
      title: cut(cols[1], cols[2]),
      doc: cut(cols[2]),
    };
  });
}

const tables: [string, FieldTable<never>, number][] = [
  ["gnt-instance-list-fields-available.txt", instanceFields as FieldTable<never>, 292],
  ["gnt-node-list-fields-available.txt", nodeFields as FieldTable<never>, 46],
  ["gnt-group-list-fields-available.txt", groupFields as FieldTable<never>, 25],
  ["gnt-network-list-fields-available.txt", networkFields as FieldTable<never>, 19],
  ["gnt-job-list-fields-available.txt", jobFields as FieldTable<never>, 16],
  ["gnt-filter-list-fields-available.txt", filterRuleFields as FieldTable<never>, 6],
];

describe("field catalogue", () => {
  for (const [file, table, count] of tables) {
    it(`has Ganeti 3.0's ${count} fields of ${file.split("-")[1]}`, () => {
      assert.equal(table.byName.size, count);
    });
    it(`matches ${file} (names, titles, kinds, docs)`, (t) => {
      const text = goldenCli(file);
      if (!text) return t.skip("golden captures not present");
      const cli = parseListFields(text);
      assert.deepEqual([...table.byName.keys()].sort(), cli.map((f) => f.name).sort());
      for (const f of cli) {
        const d = table.get(f.name);
        assert.ok(d, f.name);
        assert.deepEqual({ name: d.name, kind: d.kind, title: d.title, doc: d.doc }, f, f.name);
      }
    });
  }

  it("declares the small resources as Ganeti does", () => {
    assert.deepEqual([...exportFields.byName.keys()], ["node", "export"]);
    assert.deepEqual([...lockFields.byName.keys()], ["name", "mode", "owner", "pending"]);
    assert.equal(osFields.byName.size, 11);
  });

  it("lists RAPI's bulk fields (I_FIELDS with 3.1's custom_osparams)", () => {
    assert.equal(I_FIELDS.length, 36);
    assert.equal(N_FIELDS.length, 31);
    assert.equal(G_FIELDS.length, 15);
    assert.equal(NET_FIELDS.length, 17);
    assert.equal(FILTER_RULE_FIELDS.length, 6);
    for (const [list, table] of [[I_FIELDS, instanceFields], [N_FIELDS, nodeFields], [G_FIELDS, groupFields],
      [NET_FIELDS, networkFields], [FILTER_RULE_FIELDS, filterRuleFields]] as const) {
      for (const n of list) assert.ok((table as FieldTable<unknown>).get(n), n);
    }
  });
});

describe("data sources", () => {
  it("names the fields read from the nodes and the job queue; everything else is the config's", () => {
    assert.deepEqual(instanceFields.namesFrom("live").sort(), ["console", "oper_ram", "oper_state", "oper_vcpus", "status"]);
    assert.deepEqual(nodeFields.namesFrom("live").sort(),
      ["bootid", "cnodes", "cnos", "csockets", "ctotal", "dfree", "dtotal", "mfree", "mnode", "mtotal", "spfree", "sptotal"]);
    assert.equal(jobFields.namesFrom("job").length, jobFields.byName.size);
    for (const t of [groupFields, networkFields, filterRuleFields] as FieldTable<never>[]) assert.deepEqual(t.namesFrom("live"), []);
  });
});
