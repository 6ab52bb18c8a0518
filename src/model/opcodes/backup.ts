// Instance exports (OP_BACKUP_*).
import { EXPORT_MODES } from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";
import { instanceName, instanceUuid, shutdownTimeout } from "./fields.ts";

export const OpBackupExport = defineOpcode({
  id: "OP_BACKUP_EXPORT",
  className: "OpBackupExport",
  doc: "Export an instance.",
  result: "Tuple of (Boolean, List of Boolean)",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    compress: opt(t.string, "none", "Compression mode to use for moves during backups/imports"),
    shutdown_timeout: shutdownTimeout,
    target_node: req(t.or(t.nonEmptyString, t.list), "Target node (depends on export mode)"),
    target_node_uuid: opt(t.maybe(t.nonEmptyString), null, "Target node UUID (if local export)"),
    shutdown: opt(t.bool, true, "Whether to shutdown the instance before export"),
    remove_instance: opt(t.bool, false, "Whether to remove instance after export"),
    ignore_remove_failures: opt(
      t.bool,
      false,
      "Whether to ignore failures while removing instances",
    ),
    mode: opt(t.oneOf(...EXPORT_MODES), "local", "Export mode"),
    x509_key_name: opt(t.maybe(t.listOf(t.any)), null, "Name of X509 key (remote export only)"),
    destination_x509_ca: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Destination X509 CA (remote export only)",
    ),
    zero_free_space: opt(
      t.bool,
      false,
      "Whether to zero the free space on the disks of the instance",
    ),
    zeroing_timeout_fixed: opt(
      t.maybe(t.int),
      null,
      "The fixed part of time to wait before declaring the zeroing operation to have failed",
    ),
    zeroing_timeout_per_mib: opt(
      t.maybe(t.float),
      null,
      "The variable part of time to wait before declaring the zeroing operation to have failed, dependent on total size of disks",
    ),
    long_sleep: opt(t.bool, false, "Whether to allow long instance shutdowns during exports"),
  },
});

export const OpBackupPrepare = defineOpcode({
  id: "OP_BACKUP_PREPARE",
  className: "OpBackupPrepare",
  doc: "Prepares an instance export.",
  result: "None or (Dictionary with keys of Anything and values of Anything)",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    mode: req(t.oneOf(...EXPORT_MODES), "Export mode"),
  },
});

export const OpBackupRemove = defineOpcode({
  id: "OP_BACKUP_REMOVE",
  className: "OpBackupRemove",
  doc: "Remove an instance's export.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
  },
});
