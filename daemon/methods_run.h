/* methods_run.h: the run function of each method of the generated table
 * (methods_table.c), generated from api/operations.lua by api/generate.lua; do not edit.
 * Each is written by hand in the family file the description names (daemon/methods_<family>.c). */
#ifndef MCSID_METHODS_RUN_H
#define MCSID_METHODS_RUN_H

struct mcsid_call;

/* daemon/methods_misc.c */
void mcsid_run_get_version(struct mcsid_call *call);   /* GetVersion */
void mcsid_run_upgrade(struct mcsid_call *call);   /* Upgrade */
/* daemon/methods_session.c */
void mcsid_run_login_to_target(struct mcsid_call *call);   /* LoginToTarget */
void mcsid_run_logout_from_target(struct mcsid_call *call);   /* LogoutFromTarget */
void mcsid_run_add_connection_to_session(struct mcsid_call *call);   /* AddConnectionToSession */
void mcsid_run_remove_connection_from_session(struct mcsid_call *call);   /* RemoveConnectionFromSession */
void mcsid_run_set_wanted_connections(struct mcsid_call *call);   /* SetWantedConnections */
void mcsid_run_sessions(struct mcsid_call *call);   /* SessionList */
void mcsid_run_session_info(struct mcsid_call *call);   /* GetSessionInfo */
void mcsid_run_set_load_balance_policy(struct mcsid_call *call);   /* SetLoadBalancePolicy */
/* daemon/methods_scsi.c */
void mcsid_run_scsi_inquiry(struct mcsid_call *call);   /* ScsiInquiry */
void mcsid_run_scsi_read_capacity(struct mcsid_call *call);   /* ScsiReadCapacity */
void mcsid_run_scsi_report_luns(struct mcsid_call *call);   /* ScsiReportLuns */
/* daemon/methods_discovery.c */
void mcsid_run_send_targets(struct mcsid_call *call);   /* SendTargets */
void mcsid_run_add_target_portal(struct mcsid_call *call);   /* AddTargetPortal */
void mcsid_run_remove_target_portal(struct mcsid_call *call);   /* RemoveTargetPortal */
void mcsid_run_list_target_portals(struct mcsid_call *call);   /* ListTargetPortals */
void mcsid_run_list_targets(struct mcsid_call *call);   /* ListTargets */
/* daemon/methods_persist.c */
void mcsid_run_persistent_login_target(struct mcsid_call *call);   /* PersistentLoginTarget */
void mcsid_run_list_persistent_targets(struct mcsid_call *call);   /* ListPersistentTargets */
void mcsid_run_remove_persistent_target(struct mcsid_call *call);   /* RemovePersistentTarget */
/* daemon/methods_events.c */
void mcsid_run_subscribe(struct mcsid_call *call);   /* Subscribe */
void mcsid_run_unsubscribe(struct mcsid_call *call);   /* Unsubscribe */
/* daemon/methods_exports.c */
void mcsid_run_export_lun(struct mcsid_call *call);   /* ExportLun */
void mcsid_run_unexport_lun(struct mcsid_call *call);   /* UnexportLun */
void mcsid_run_list_exports(struct mcsid_call *call);   /* ListExports */
/* daemon/methods_policy.c */
void mcsid_run_attach_policy(struct mcsid_call *call);   /* AttachPolicy */
void mcsid_run_detach_policy(struct mcsid_call *call);   /* DetachPolicy */
void mcsid_run_list_policies(struct mcsid_call *call);   /* ListPolicies */
/* daemon/methods_io.c */
void mcsid_run_read(struct mcsid_call *call);   /* ScsiRead */
void mcsid_run_write(struct mcsid_call *call);   /* ScsiWrite */
void mcsid_run_flush(struct mcsid_call *call);   /* ScsiSynchronizeCache */
void mcsid_run_unmap(struct mcsid_call *call);   /* ScsiUnmap */
void mcsid_run_write_zeroes(struct mcsid_call *call);   /* ScsiWriteZeroes */
void mcsid_run_scsi_command(struct mcsid_call *call);   /* ScsiCommand */
void mcsid_run_scsi_test_unit_ready(struct mcsid_call *call);   /* ScsiTestUnitReady */
void mcsid_run_lun_reset(struct mcsid_call *call);   /* LunReset */
void mcsid_run_abort_task(struct mcsid_call *call);   /* AbortTask */

#endif
