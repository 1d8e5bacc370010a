/* methods_table.c: the daemon's method table and parameter schemas, generated from api/operations.lua by api/generate.lua; do not edit.
 *
 * One row per operation with a JSON-RPC face, in the description's order (GetVersion
 * lists them so); its run function is methods_run.h's mcsid_run_<operation>. */
#include <stddef.h>
#include "methods.h"

static const mcsid_param_spec params_get_version[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_upgrade[] = {
  { "ViaFdStore", P_BOOL, 0, NULL },
  { "Wait", P_BOOL, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_login_to_target[] = {
  { "TargetName", P_STRING, 1, NULL },
  { "TargetPortal", P_PORTAL, 1, NULL },
  { "IsPersistent", P_BOOL, 0, NULL },
  { "Connections", P_UINT, 0, NULL },
  { "HeaderDigest", P_STRING, 0, NULL },
  { "DataDigest", P_STRING, 0, NULL },
  { "LoginTimeoutMs", P_UINT, 0, NULL },
  { "ChapAccount", P_STRING, 0, NULL },
  { "Username", P_STRING, 0, NULL },
  { "Secret", P_STRING, 0, NULL },
  { "SecretFile", P_STRING, 0, NULL },
  { "TargetUsername", P_STRING, 0, NULL },
  { "TargetSecret", P_STRING, 0, NULL },
  { "TargetSecretFile", P_STRING, 0, NULL },
  { "MaximumConnections", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_logout_from_target[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_add_connection_to_session[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "TargetPortal", P_PORTAL, 1, NULL },
  { "Weight", P_UINT, 0, NULL },
  { "LoginTimeoutMs", P_UINT, 0, NULL },
  { "ChapAccount", P_STRING, 0, NULL },
  { "Username", P_STRING, 0, NULL },
  { "Secret", P_STRING, 0, NULL },
  { "SecretFile", P_STRING, 0, NULL },
  { "TargetUsername", P_STRING, 0, NULL },
  { "TargetSecret", P_STRING, 0, NULL },
  { "TargetSecretFile", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_remove_connection_from_session[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "UniqueConnectionId", P_ID, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_set_wanted_connections[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Connections", P_UINT, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_sessions[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_session_info[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec elements_set_load_balance_policy_paths[] = {
  { "UniqueConnectionId", P_ID, 1, NULL },
  { "Weight", P_UINT, 0, NULL },
  { "Active", P_BOOL, 0, NULL },
  { "Primary", P_BOOL, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_set_load_balance_policy[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "LoadBalancePolicy", P_POLICY, 1, NULL },
  { "Paths", P_ARRAY, 0, elements_set_load_balance_policy_paths },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_scsi_inquiry[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "PageCode", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_scsi_read_capacity[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_scsi_report_luns[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_send_targets[] = {
  { "TargetPortal", P_PORTAL, 1, NULL },
  { "MaximumConnections", P_UINT, 0, NULL },
  { "HeaderDigest", P_STRING, 0, NULL },
  { "DataDigest", P_STRING, 0, NULL },
  { "LoginTimeoutMs", P_UINT, 0, NULL },
  { "ChapAccount", P_STRING, 0, NULL },
  { "Username", P_STRING, 0, NULL },
  { "Secret", P_STRING, 0, NULL },
  { "SecretFile", P_STRING, 0, NULL },
  { "TargetUsername", P_STRING, 0, NULL },
  { "TargetSecret", P_STRING, 0, NULL },
  { "TargetSecretFile", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_add_target_portal[] = {
  { "TargetPortal", P_PORTAL, 1, NULL },
  { "MaximumConnections", P_UINT, 0, NULL },
  { "HeaderDigest", P_STRING, 0, NULL },
  { "DataDigest", P_STRING, 0, NULL },
  { "LoginTimeoutMs", P_UINT, 0, NULL },
  { "ChapAccount", P_STRING, 0, NULL },
  { "Username", P_STRING, 0, NULL },
  { "Secret", P_STRING, 0, NULL },
  { "SecretFile", P_STRING, 0, NULL },
  { "TargetUsername", P_STRING, 0, NULL },
  { "TargetSecret", P_STRING, 0, NULL },
  { "TargetSecretFile", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_remove_target_portal[] = {
  { "TargetPortal", P_LISTED_PORTAL, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_list_target_portals[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_list_targets[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_persistent_login_target[] = {
  { "TargetName", P_STRING, 1, NULL },
  { "TargetPortal", P_PORTAL, 0, NULL },
  { "Portals", P_PORTALS, 0, NULL },
  { "Connections", P_UINT, 0, NULL },
  { "LoadBalancePolicy", P_POLICY, 0, NULL },
  { "PolicyScript", P_STRING, 0, NULL },
  { "HeaderDigest", P_STRING, 0, NULL },
  { "DataDigest", P_STRING, 0, NULL },
  { "Exports", P_ARRAY, 0, NULL },
  { "RecoveryTimeoutMs", P_UINT, 0, NULL },
  { "ChapAccount", P_STRING, 0, NULL },
  { "Username", P_STRING, 0, NULL },
  { "Secret", P_STRING, 0, NULL },
  { "SecretFile", P_STRING, 0, NULL },
  { "TargetUsername", P_STRING, 0, NULL },
  { "TargetSecret", P_STRING, 0, NULL },
  { "TargetSecretFile", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_list_persistent_targets[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_remove_persistent_target[] = {
  { "TargetName", P_STRING, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_subscribe[] = {
  { "Kinds", P_ARRAY, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_unsubscribe[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_export_lun[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 1, NULL },
  { "Socket", P_STRING, 0, NULL },
  { "Tcp", P_STRING, 0, NULL },
  { "ExportName", P_STRING, 0, NULL },
  { "ReadOnly", P_BOOL, 0, NULL },
  { "MaxClients", P_UINT, 0, NULL },
  { "IsPersistent", P_BOOL, 0, NULL },
  { "Tls", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_unexport_lun[] = {
  { "ExportId", P_ID, 0, NULL },
  { "Socket", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_list_exports[] = {
  { "UniqueSessionId", P_ID, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_attach_policy[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "PolicyScript", P_STRING, 1, NULL },
  { "Options", P_OBJECT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_detach_policy[] = {
  { "PolicyId", P_UINT, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_list_policies[] = {
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_read[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Lba", P_UINT, 1, NULL },
  { "Blocks", P_UINT, 0, NULL },
  { "Length", P_UINT, 0, NULL },
  { "ForceUnitAccess", P_BOOL, 0, NULL },
  { "DisablePageOut", P_BOOL, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_write[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Lba", P_UINT, 1, NULL },
  { "Data", P_STRING, 1, NULL },
  { "ForceUnitAccess", P_BOOL, 0, NULL },
  { "DisablePageOut", P_BOOL, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_flush[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Lba", P_UINT, 0, NULL },
  { "Blocks", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_unmap[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Lba", P_UINT, 1, NULL },
  { "Blocks", P_UINT, 1, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_write_zeroes[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Lba", P_UINT, 1, NULL },
  { "Blocks", P_UINT, 1, NULL },
  { "ForceUnitAccess", P_BOOL, 0, NULL },
  { "DisablePageOut", P_BOOL, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_scsi_command[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { "Cdb", P_STRING, 1, NULL },
  { "Direction", P_STRING, 0, NULL },
  { "Length", P_UINT, 0, NULL },
  { "Data", P_STRING, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_scsi_test_unit_ready[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_lun_reset[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Lun", P_UINT, 0, NULL },
  { NULL, 0, 0, NULL },
};
static const mcsid_param_spec params_abort_task[] = {
  { "UniqueSessionId", P_ID, 1, NULL },
  { "Tag", P_ID, 1, NULL },
  { NULL, 0, 0, NULL },
};

const mcsid_method mcsid_methods[] = {
  { "GetVersion", mcsid_run_get_version, MCSID_POLICY_ANY, params_get_version },
  { "Upgrade", mcsid_run_upgrade, MCSID_POLICY_REFUSED, params_upgrade },
  { "LoginToTarget", mcsid_run_login_to_target, MCSID_POLICY_REFUSED, params_login_to_target },
  { "LogoutFromTarget", mcsid_run_logout_from_target, MCSID_POLICY_OWN_SESSION, params_logout_from_target },
  { "AddConnectionToSession", mcsid_run_add_connection_to_session, MCSID_POLICY_OWN_SESSION, params_add_connection_to_session },
  { "RemoveConnectionFromSession", mcsid_run_remove_connection_from_session, MCSID_POLICY_OWN_SESSION, params_remove_connection_from_session },
  { "SetWantedConnections", mcsid_run_set_wanted_connections, MCSID_POLICY_OWN_SESSION, params_set_wanted_connections },
  { "SessionList", mcsid_run_sessions, MCSID_POLICY_REFUSED, params_sessions },
  { "GetSessionInfo", mcsid_run_session_info, MCSID_POLICY_OWN_SESSION, params_session_info },
  { "SetLoadBalancePolicy", mcsid_run_set_load_balance_policy, MCSID_POLICY_OWN_SESSION, params_set_load_balance_policy },
  { "ScsiInquiry", mcsid_run_scsi_inquiry, MCSID_POLICY_OWN_SESSION, params_scsi_inquiry },
  { "ScsiReadCapacity", mcsid_run_scsi_read_capacity, MCSID_POLICY_OWN_SESSION, params_scsi_read_capacity },
  { "ScsiReportLuns", mcsid_run_scsi_report_luns, MCSID_POLICY_OWN_SESSION, params_scsi_report_luns },
  { "SendTargets", mcsid_run_send_targets, MCSID_POLICY_REFUSED, params_send_targets },
  { "AddTargetPortal", mcsid_run_add_target_portal, MCSID_POLICY_REFUSED, params_add_target_portal },
  { "RemoveTargetPortal", mcsid_run_remove_target_portal, MCSID_POLICY_REFUSED, params_remove_target_portal },
  { "ListTargetPortals", mcsid_run_list_target_portals, MCSID_POLICY_REFUSED, params_list_target_portals },
  { "ListTargets", mcsid_run_list_targets, MCSID_POLICY_REFUSED, params_list_targets },
  { "PersistentLoginTarget", mcsid_run_persistent_login_target, MCSID_POLICY_REFUSED, params_persistent_login_target },
  { "ListPersistentTargets", mcsid_run_list_persistent_targets, MCSID_POLICY_REFUSED, params_list_persistent_targets },
  { "RemovePersistentTarget", mcsid_run_remove_persistent_target, MCSID_POLICY_REFUSED, params_remove_persistent_target },
  { "Subscribe", mcsid_run_subscribe, MCSID_POLICY_ANY, params_subscribe },
  { "Unsubscribe", mcsid_run_unsubscribe, MCSID_POLICY_ANY, params_unsubscribe },
  { "ExportLun", mcsid_run_export_lun, MCSID_POLICY_REFUSED, params_export_lun },
  { "UnexportLun", mcsid_run_unexport_lun, MCSID_POLICY_REFUSED, params_unexport_lun },
  { "ListExports", mcsid_run_list_exports, MCSID_POLICY_REFUSED, params_list_exports },
  { "AttachPolicy", mcsid_run_attach_policy, MCSID_POLICY_REFUSED, params_attach_policy },
  { "DetachPolicy", mcsid_run_detach_policy, MCSID_POLICY_REFUSED, params_detach_policy },
  { "ListPolicies", mcsid_run_list_policies, MCSID_POLICY_REFUSED, params_list_policies },
  { "ScsiRead", mcsid_run_read, MCSID_POLICY_OWN_SESSION, params_read },
  { "ScsiWrite", mcsid_run_write, MCSID_POLICY_OWN_SESSION, params_write },
  { "ScsiSynchronizeCache", mcsid_run_flush, MCSID_POLICY_OWN_SESSION, params_flush },
  { "ScsiUnmap", mcsid_run_unmap, MCSID_POLICY_OWN_SESSION, params_unmap },
  { "ScsiWriteZeroes", mcsid_run_write_zeroes, MCSID_POLICY_OWN_SESSION, params_write_zeroes },
  { "ScsiCommand", mcsid_run_scsi_command, MCSID_POLICY_OWN_SESSION, params_scsi_command },
  { "ScsiTestUnitReady", mcsid_run_scsi_test_unit_ready, MCSID_POLICY_OWN_SESSION, params_scsi_test_unit_ready },
  { "LunReset", mcsid_run_lun_reset, MCSID_POLICY_OWN_SESSION, params_lun_reset },
  { "AbortTask", mcsid_run_abort_task, MCSID_POLICY_OWN_SESSION, params_abort_task },
  { NULL, NULL, 0, NULL },
};
