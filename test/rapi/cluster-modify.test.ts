// PUT /2/modify (OP_CLUSTER_SET_PARAMS): every parameter is checked as Ganeti checks it,
// stored, and shown by /2/info; errors carry Ganeti's classes and texts.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { buildOpcode } from "../../src/model/opcode.ts";
import { OpClusterSetParams } from "../../src/model/opcodes/cluster.ts";
import type { Instance } from "../../src/model/objects.ts";
import { call, runJob, suiteMaster, waitJob } from "../support/cluster.ts";
import { golden, goldenJob, haveGolden, replay } from "../support/golden.ts";

type Dict = Record<string, unknown>;

describe("cluster modify", () => {
  const m = suiteMaster();
  const modify = (body: Dict) => runJob(m.port, "PUT", "/2/modify", body);
  const info = async () => (await call(m.port, "GET", "/2/info")).json as Dict;
  const result = (job: Dict) => (job.opresult as unknown[])[0];
  const messages = (job: Dict) => (job.oplog as [number, unknown, string, string][][])[0].map((e) => e[3]);

  it("changes parameters as in Ganeti's capture", async () => {
    const job = await modify({ candidate_pool_size: 10, maintain_node_health: false });
    assert.equal(job.status, "success");
    assert.deepEqual(job.opresult, [null]);
    assert.deepEqual(job.summary, ["CLUSTER_SET_PARAMS"]);
    if (haveGolden) {
      const theirs = goldenJob("0435-cluster-modify-job.json");
      assert.deepEqual(Object.keys((job.ops as Dict[])[0]), Object.keys((theirs.ops as Dict[])[0]));
      assert.deepEqual([job.status, job.opresult, job.summary], [theirs.status, theirs.opresult, theirs.summary]);
      const ours = await info();
      const after = golden("0438-info-after-modify.json").response.body_json as Dict;
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(after).sort());
    }
  });

  it("answers bad bodies and forbidden parameters as Ganeti does", async () => {
    if (haveGolden) {
      for (const file of ["0436-cluster-modify-bad.json", "0437-cluster-modify-unknown-param.json", "0088-400-cluster-modify-forbidden.json"]) {
        const ex = golden(file);
        const r = await replay(m.port, ex);
        assert.equal(r.status, ex.response.status, file);
        assert.deepEqual(r.json, ex.response.body_json, file);
      }
    }
    const forbiddenInQuery = await call(m.port, "PUT", "/2/modify?compression_tools=gzip", { user: "writer", body: {} });
    assert.equal(forbiddenInQuery.status, 403);
    // Ganeti answers 500 for a missing body (it iterates None); Corral says what is wrong.
    assert.equal((await call(m.port, "PUT", "/2/modify", { user: "writer" })).status, 400);
    assert.equal((await call(m.port, "PUT", "/2/modify", { user: "reader", body: {} })).status, 403);
  });

  it("stores every parameter and shows it in /2/info", async () => {
    const job = await modify({
      candidate_pool_size: 3,
      max_running_jobs: 15,
      max_tracked_jobs: 30,
      mac_prefix: "AA:BB:0C",
      uid_pool: [[1000, 2000]],
      beparams: { maxmem: "256", vcpus: 2 },
      nicparams: { mode: "bridged", link: "br1" },
      ndparams: { spindle_count: 3 },
      diskparams: { plain: { stripes: 2 } },
      hvparams: { fake: { migration_mode: "non-live" } },
      ipolicy: { "vcpu-ratio": 8, std: { "memory-size": 256 } },
      hidden_os: [["add", "debian"], ["add", "debian"], ["remove", "nosuch"]],
      blacklisted_os: [["add", "windows"]],
      default_iallocator: "hail",
      default_iallocator_params: { seed: "1" },
      reserved_lvs: ["xenvg/root"],
      prealloc_wipe_disks: true,
      use_external_mip_script: true,
      enabled_user_shutdown: true,
      modify_etc_hosts: true,
      install_image: "/srv/images/install.img",
      zeroing_image: "https://images.example/zero.img",
      master_netdev: "eth1",
      master_netmask: 24,
      vg_name: "",
      drbd_helper: "",
      gluster_storage_dir: "/srv/gluster",
      enabled_data_collectors: { lv: false },
      data_collector_interval: { diskstats: 1000000 },
      hv_state: { fake: { mem_total: 2048 } },
      disk_state: { plain: { xenvg: { disk_total: 100 } } },
    });
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    assert.deepEqual(messages(job), [
      " - WARNING: Specified a gluster storage directory, although gluster storage is not enabled.",
      "Cluster LVM configuration already in desired state, not changing",
      "Note that you specified a drbd user helper, but did not enable the drbd disk template.",
      "Cluster DRBD helper already in desired state, not changing",
      "OS debian already in hidden OS list, ignoring",
      "OS nosuch not found in hidden OS list, ignoring",
      "Changing master_netdev from lo to eth1",
      "Changing master IP netmask to 24",
    ]);
    const i = await info();
    const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, i[k]]));
    assert.deepEqual(pick(["candidate_pool_size", "max_running_jobs", "max_tracked_jobs", "mac_prefix", "uid_pool"]), {
      candidate_pool_size: 3, max_running_jobs: 15, max_tracked_jobs: 30, mac_prefix: "aa:bb:0c", uid_pool: [[1000, 2000]],
    });
    assert.deepEqual((i.beparams as Dict).default, { minmem: 128, maxmem: 256, vcpus: 2, auto_balance: true, always_failover: false, spindle_use: 1 });
    assert.deepEqual((i.nicparams as Dict).default, { mode: "bridged", link: "br1", vlan: "" });
    assert.equal((i.ndparams as Dict).spindle_count, 3);
    assert.equal((i.ndparams as Dict).ssh_port, 22);
    assert.deepEqual((i.diskparams as Dict).plain, { stripes: 2 });
    assert.deepEqual((i.hvparams as Record<string, Dict>).fake, { migration_mode: "non-live" });
    const ipolicy = i.ipolicy as Dict;
    assert.equal(ipolicy["vcpu-ratio"], 8);
    assert.equal((ipolicy.std as Dict)["memory-size"], 256);
    assert.equal((ipolicy.std as Dict)["cpu-count"], 1);
    assert.deepEqual(pick(["hidden_os", "blacklisted_os", "default_iallocator", "default_iallocator_params", "reserved_lvs"]), {
      hidden_os: ["debian"], blacklisted_os: ["windows"], default_iallocator: "hail", default_iallocator_params: { seed: "1" },
      reserved_lvs: ["xenvg/root"],
    });
    assert.deepEqual(pick(["prealloc_wipe_disks", "use_external_mip_script", "enabled_user_shutdown", "install_image", "zeroing_image"]), {
      prealloc_wipe_disks: true, use_external_mip_script: true, enabled_user_shutdown: true,
      install_image: "/srv/images/install.img", zeroing_image: "https://images.example/zero.img",
    });
    assert.deepEqual(pick(["master_netdev", "master_netmask", "vg_name", "drbd_helper", "gluster_storage_dir"]), {
      master_netdev: "eth1", master_netmask: 24, vg_name: null, drbd_helper: null, gluster_storage_dir: "/srv/gluster",
    });
    assert.equal((i.enabled_data_collectors as Dict).lv, false);
    assert.equal((i.data_collector_interval as Dict).diskstats, 1000000);
    const cluster = m.t.master.store.snapshot().cluster;
    assert.equal(cluster.modify_etc_hosts, true);
    assert.deepEqual(cluster.hv_state_static, { fake: { cpu_node: 1, cpu_total: 1, mem_hv: 0, mem_total: 2048, mem_node: 0 } });
    assert.deepEqual(cluster.disk_state_static, { plain: { xenvg: { disk_total: 100, disk_reserved: 0, disk_overhead: 0 } } });

    // add_uids, then remove_uids, then uid_pool (which would replace the pool) apply in order.
    const removed = await modify({ add_uids: [[3000, 3000], [10, 20]], remove_uids: [[1000, 2000]], hidden_os: [["remove", "debian"]], beparams: { memory: 512 } });
    assert.equal(removed.status, "success");
    const after = await info();
    assert.deepEqual([after.uid_pool, after.hidden_os], [[[10, 20], [3000, 3000]], []]);
    assert.equal(((after.beparams as Dict).default as Dict).minmem, 512, "the old `memory` sets both minmem and maxmem");
  });

  it("promotes nodes to master candidates when the pool grows", async () => {
    const snap = m.t.master.store.snapshot();
    const first = [...snap.nodes.values()][0];
    const uuid = randomUUID();
    await m.t.master.store.transact((tx) => void tx.add("node", {
      ...structuredClone(first), uuid, name: "node2.corral.test", primary_ip: "127.0.0.2", secondary_ip: "127.0.0.2",
      master_candidate: false, agent_endpoint: "https://127.0.0.2:1811",
    }));
    try {
      await modify({ candidate_pool_size: 1 });
      const job = await modify({ candidate_pool_size: 2 });
      assert.deepEqual(messages(job), [" - INFO: Promoted nodes to master candidate role: node2.corral.test"]);
      assert.equal(m.t.master.store.snapshot().nodes.get(uuid)?.master_candidate, true);
      const shrink = await modify({ candidate_pool_size: 1 });
      assert.deepEqual(messages(shrink), [" - INFO: Note: more nodes are candidates (2) than desired (1)"]);
    } finally {
      await m.t.master.store.transact((tx) => tx.remove("node", uuid));
    }
  });

  it("checks a dry run without changing anything", async () => {
    const before = await info();
    const job = await modify({ max_running_jobs: 3, dry_run: true });
    assert.equal(job.status, "success");
    assert.equal((await info()).max_running_jobs, before.max_running_jobs);
  });

  it("refuses bad values with Ganeti's error classes and texts", async () => {
    const cases: [Dict, unknown][] = [
      [{ uid_pool: [[10, 5]] }, ["OpPrereqError", ["Lower user-id range boundary value (10) is larger than higher boundary value (5)", "wrong_input"]]],
      [{ add_uids: [[-1, 5]] }, ["OpPrereqError", ["Lower user-id range boundary value (-1) is smaller than UIDPOOL_UID_MIN (0).", "wrong_input"]]],
      [{ remove_uids: [[7, 8]] }, ["OpPrereqError", ["User-id range to be removed is not found in the current user-id pool: (7, 8)", "wrong_input"]]],
      [{ master_netmask: 33 }, ["OpPrereqError", ["CIDR netmask (33) not valid", "wrong_input"]]],
      [{ mac_prefix: "zz:00:00" }, ["OpPrereqError", ["Invalid MAC address prefix 'zz:00:00'", "wrong_input"]]],
      [{ beparams: { vcpus: "many" } }, ["TypeEnforcementError", ["'vcpus' (value many) is not a valid integer"]]],
      [{ beparams: { bogus: 1 } }, ["TypeEnforcementError", ["Unknown parameter 'bogus'"]]],
      [{ ndparams: { exclusive_storage: "maybe" } }, ["TypeEnforcementError", ["'exclusive_storage' (value maybe) is not a valid boolean"]]],
      [{ hvparams: { fake: { bogus: 1 } } }, ["TypeEnforcementError", ["Unknown parameter 'bogus'"]]],
      [{ hvparams: { fake: { kernel_path: "/boot/vmlinuz" } } }, ["HypervisorError", ["Parameter 'kernel_path' is not supported"]]],
      [{ hvparams: { fake: { migration_mode: "teleport" } } },
        ["HypervisorError", ["Parameter 'migration_mode' fails syntax check: invalid migration mode (current value: 'teleport')"]]],
      [{ enabled_hypervisors: ["xen-pvm"] }, ["OpPrereqError", ["Hypervisor(s) xen-pvm not supported by Corral (supported: fake, kvm)", "wrong_input"]]],
      [{ enabled_disk_templates: ["file", "plain"] },
        ["OpPrereqError", ["Disk template(s) plain not supported by Corral (supported: diskless, file, sharedfile, ext)", "wrong_input"]]],
      [{ enabled_disk_templates: ["file"] },
        ["OpPrereqError", ["The following disk templates are allowed by the ipolicy, but not enabled on the cluster: diskless", "wrong_input"]]],
      [{ ipolicy: { std: { "cpu-count": 100 } } }, ["OpPrereqError", ["Invalid instance policy: Invalid std specifications", "wrong_input"]]],
      [{ ipolicy: { "disk-templates": [] } }, ["OpPrereqError", ["Can't unset ipolicy attribute 'disk-templates' on the cluster'", "wrong_input"]]],
      [{ ipolicy: { "disk-templates": ["file", "ext"] } },
        ["OpPrereqError", ["The following disk templates are allowed by the ipolicy, but not enabled on the cluster: ext", "wrong_input"]]],
      [{ diskparams: { drbd: { bogus: 1 } } }, ["TypeEnforcementError", ["Unknown parameter 'bogus'"]]],
      [{ diskparams: { plain: { pool: "x" } } },
        ["OpPrereqError", ["While verify diskparams options: ('Provided option keys not supported: plain/pool', 'wrong_input')", "wrong_input"]]],
      [{ nicparams: { mode: "bridged", link: "" } }, ["ConfigurationError", ["Missing bridged NIC link"]]],
      [{ nicparams: { ip: "10.0.0.1" } }, ["TypeEnforcementError", ["Unknown parameter 'ip'"]]],
      [{ default_iallocator: "nosuch" }, ["OpPrereqError", ["Invalid default iallocator script 'nosuch' specified", "wrong_input"]]],
      [{ install_image: "images/x.img" }, ["OpPrereqError", ["Install image must be an absolute path or a URL"]]],
      [{ file_storage_dir: "" },
        ["OpPrereqError", ["Unsetting the 'file' storage directory while having 'file' storage enabled is not permitted.", "wrong_input"]]],
      [{ enabled_data_collectors: { bogus: true } }, ["OpPrereqError", ["Unknown data collector(s): bogus", "wrong_input"]]],
      [{ hv_state: { vmware: {} } }, ["OpPrereqError", ["Invalid hypervisor(s) in hypervisor state: vmware", "wrong_input"]]],
    ];
    const before = await info();
    for (const [body, error] of cases) {
      const job = await modify(body);
      assert.deepEqual(result(job), error, JSON.stringify(body));
    }
    const after = await info();
    for (const key of ["ipolicy", "hvparams", "beparams", "enabled_disk_templates", "uid_pool"]) assert.deepEqual(after[key], before[key], key);
  });

  it("checks compression tools that other paths than RAPI may set", async () => {
    const submit = async (tools: string[]) => {
      const [id] = await m.t.master.queue.submitJobs([[buildOpcode(OpClusterSetParams, { compression_tools: tools })]]);
      return waitJob(m.port, id);
    };
    assert.deepEqual(result(await submit(["bzip2"])),
      ["OpPrereqError", ["For compatibility reasons, the gzip utility must be present among the compression tools", "wrong_input"]]);
    assert.deepEqual(result(await submit(["gzip", "x;rm"])),
      ["OpPrereqError", ["The tools 'x;rm' contain illegal characters: only alphanumeric values, dashes, and underscores are allowed", "wrong_input"]]);
    assert.equal((await submit(["gzip", "lzop"])).status, "success");
    assert.deepEqual((await info()).compression_tools, ["gzip", "lzop"]);
  });

  it("keeps disk templates and NIC modes that instances use", async () => {
    const node = [...m.t.master.store.snapshot().nodes.values()][0];
    const inst: Instance = {
      uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [],
      name: "inst1.corral.test", primary_node: node.uuid, secondary_nodes: [], os: "noop", hypervisor: "fake",
      hvparams: {}, beparams: {}, osparams: {}, osparams_private: {}, admin_state: "down", admin_state_source: "admin",
      disk_template: "diskless", disks: [], network_port: null, disks_active: false,
      nics: [{ uuid: randomUUID(), name: null, mac: "aa:bb:0c:00:00:01", ip: null, network: null, nicparams: {} }],
    };
    await m.t.master.store.transact((tx) => void tx.add("instance", inst));
    try {
      const templates = await modify({ enabled_disk_templates: ["file"], ipolicy: { "disk-templates": ["file"] } });
      assert.deepEqual(result(templates), ["OpPrereqError", [
        "Cannot disable disk template 'diskless', because there is at least one instance using it:\n * inst1.corral.test", "wrong_state"]]);
      const routed = await modify({ nicparams: { mode: "routed" } });
      assert.deepEqual(result(routed), ["OpPrereqError", [
        "Cannot apply the change, errors:\nInstance inst1.corral.test, nic/0: routed NIC with no ip address", "wrong_input"]]);
    } finally {
      await m.t.master.store.transact((tx) => tx.remove("instance", inst.uuid));
    }
    const ok = await modify({ enabled_disk_templates: ["file", "sharedfile"], ipolicy: { "disk-templates": ["file"] } });
    assert.equal(ok.status, "success", JSON.stringify(ok.opresult));
    assert.deepEqual((await info()).enabled_disk_templates, ["file", "sharedfile"]);
  });

  it("creates the instance communication network and connects every group to it (child jobs)", async () => {
    const job = await modify({ instance_communication_network: "comm" });
    assert.equal(job.status, "success");
    const jobs = (result(job) as { jobs: [boolean, number][] }).jobs;
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0][0], true);
    const child = await waitJob(m.port, jobs[0][1]);
    assert.equal(child.status, "success", JSON.stringify(child.opresult));
    assert.deepEqual(child.summary, ["NETWORK_ADD(comm)", "NETWORK_CONNECT(comm)"]);
    assert.deepEqual(messages(job), ["Changing instance communication network to 'comm', only new instances will be affected."]);
    const net = (await call(m.port, "GET", "/2/networks/comm")).json as Dict;
    assert.deepEqual([net.network, net.network6, net.mac_prefix], ["169.254.0.0/16", "fe80::/10", "52:54:00"]);
    assert.deepEqual(net.group_list, [["default", "routed", "communication_rt", ""]]);
    assert.equal((await info()).instance_communication_network, "comm");

    // A new group joins it too.
    const added = await runJob(m.port, "POST", "/2/groups", { group_name: "g2" });
    const groupJobs = (result(added) as { jobs: [boolean, number][] }).jobs;
    assert.equal((await waitJob(m.port, groupJobs[0][1])).status, "success");
    const again = (await call(m.port, "GET", "/2/networks/comm")).json as Dict;
    assert.equal((again.group_list as unknown[]).length, 2);

    const same = await modify({ instance_communication_network: "comm" });
    assert.deepEqual([same.opresult, messages(same)], [[null], ["Instance communication network already is 'comm', nothing to do."]]);
    const off = await modify({ instance_communication_network: "" });
    assert.deepEqual(messages(off), [
      "Previous instance communication network 'comm' should be removed manually.",
      "Disabling instance communication network, only new instances will be affected.",
    ]);
  });
});
