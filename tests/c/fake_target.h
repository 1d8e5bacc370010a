/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake_target.h: a scripted fake iSCSI target for the error paths real
 * targets never take.
 *
 * A fake target runs in its own pthread inside the test process, listens on
 * 127.0.0.1 with an ephemeral port and speaks just enough iSCSI (RFC 7143):
 * login (Security stage with AuthMethod=None, Operational stage answering
 * every key the initiator offers, digests refused), then Full Feature with
 * NOP-Out, SCSI commands against a small in-memory disk (INQUIRY, READ
 * CAPACITY 10/16, REPORT LUNS, TEST UNIT READY, READ/WRITE 10/16 with
 * immediate data, unsolicited Data-Out and R2T), Task Management, Text
 * (SendTargets) and Logout.
 *
 * Each instance injects ONE misbehaviour, chosen by its scenario.  Every
 * socket is non-blocking and the thread polls with a short timeout, so
 * fake_target_stop() returns promptly whatever the initiator does. */
#ifndef MCSI_FAKE_TARGET_H
#define MCSI_FAKE_TARGET_H
#include <stddef.h>
#include <stdint.h>

typedef enum fake_scenario {
  FAKE_NORMAL = 0,
  FAKE_LOGIN_NEVER_ANSWERS,   /* reads the first Login Request, then silence */
  FAKE_LOGIN_GARBAGE_KEYS,    /* first Login Response carries malformed keys (variant) */
  FAKE_LOGIN_BAD_STATUS,      /* login fails with opts.login_status (default 0x0201) */
  FAKE_LOGIN_REDIRECT_LOOP,   /* 0x0101 TargetAddress=127.0.0.1:<own port>, forever */
  FAKE_MALFORMED_BHS,         /* first SCSI command answered by a bad BHS (variant) */
  FAKE_OVERSIZED_DSL,         /* Data-In with DataSegmentLength 0xFFFFFF, then junk */
  FAKE_UNKNOWN_ITT,           /* SCSI Response (variant 0) / Data-In (1) for a foreign ITT */
  FAKE_DROP_MID_IO,           /* closes after receiving SCSI command number opts.drop_after */
  FAKE_NEVER_ANSWERS_COMMAND, /* swallows SCSI commands, still answers NOP-Out */
  FAKE_REJECT_COMMAND,        /* Reject, reason 0x04 (protocol error), with the BHS */
  FAKE_CHECK_CONDITION,       /* READ gets CHECK CONDITION, MEDIUM ERROR 11/00 */
  FAKE_SHORT_DATA_IN,         /* READ gets opts.short_by fewer bytes, U bit and residual */
  FAKE_TRUNCATED_PDU,         /* first SCSI command answered by half a BHS, then close */
  /* Hostile targets (issue 7): each one a class of defect. */
  FAKE_LOGOUT_STRAY_DATA_IN,  /* a Logout Request on a joined connection is answered by a
                                 Data-In for an ITT the initiator never used, then the Logout Response */
  FAKE_SPLIT_DATA_IN,         /* a READ on a joined connection gets a Data-In header and half its
                                 data; the rest only when a Logout Request arrives there */
  FAKE_JOIN_RESET,            /* a join is answered with a new TSIH, then the connection is reset */
  FAKE_BAD_SENDTARGETS,       /* SendTargets answered with a valid key, then one without '=' */
  FAKE_NOP_FLOOD,             /* after login: never reads again, floods NOP-Ins that need answers */
  FAKE_R2T_FLOOD,             /* a WRITE gets 1000 R2Ts for the same data at once */
  FAKE_TEXT_FOREVER,          /* every Text Request answered with C=1 and 4 KiB, forever */
  FAKE_BAD_RESIDUAL,          /* INQUIRY / READ CAPACITY answered impossibly (variant) */
  FAKE_LOGIN_TSIH_ZERO,       /* the final Login Response of a new session carries TSIH 0 */
  FAKE_LOGOUT_REJECTED,       /* a Logout Request on a joined connection gets a Reject, nothing else */
  FAKE_JOINED_SWALLOWS,       /* SCSI commands on a joined connection are taken and never answered */
  FAKE_SCENARIO_COUNT
} fake_scenario;

/* FAKE_LOGIN_GARBAGE_KEYS variants. */
enum { FAKE_GARBAGE_ALL = 0, FAKE_GARBAGE_NO_EQUALS, FAKE_GARBAGE_LONG_KEY, FAKE_GARBAGE_BINARY };
/* FAKE_LOGIN_BAD_STATUS variants: every login, or only logins that join a
 * session (TSIH != 0), so that a session can be made and then grown. */
enum { FAKE_BAD_STATUS_ALL = 0, FAKE_BAD_STATUS_JOINS_ONLY };
/* FAKE_MALFORMED_BHS variants. */
enum { FAKE_BHS_UNKNOWN_OPCODE = 0, FAKE_BHS_RESERVED_BIT };
/* FAKE_UNKNOWN_ITT variants. */
enum { FAKE_ITT_SCSI_RSP = 0, FAKE_ITT_DATA_IN };

/* FAKE_DROP_MID_IO variants: the dropped command reached the target, or was
 * lost on the way (its CmdSN stays a hole until it comes again). */
enum { FAKE_DROP_SEEN = 0, FAKE_DROP_UNSEEN };

/* FAKE_BAD_RESIDUAL variants. */
enum { FAKE_RESID_HUGE = 0,      /* INQUIRY: 36 bytes, underflow residual 0xFFFFFFFF */
       FAKE_RESID_BEYOND,        /* INQUIRY: 36 bytes, underflow residual EDTL + 1 */
       FAKE_RESID_UNFLAGGED,     /* INQUIRY: 36 bytes, GOOD, no residual at all */
       FAKE_RESID_NO_CAPACITY }; /* READ CAPACITY: GOOD without data */

/* FAKE_TEXT_FOREVER variants: the window stays open, or closes with the first answer. */
enum { FAKE_TEXT_WINDOW_OPEN = 0, FAKE_TEXT_WINDOW_CLOSES };

/* Negotiation choices of the fake target. */
enum { FAKE_ACCEPT = 0, FAKE_FORCE_YES = 1, FAKE_FORCE_NO = 2 };

typedef struct fake_target fake_target;

/* All zero means "the default" for every field. */
typedef struct fake_target_opts {
  fake_scenario scenario;
  int variant;                 /* scenario-specific sub-case, see the enums above */
  uint16_t login_status;       /* LOGIN_BAD_STATUS: class << 8 | detail; default 0x0201 */
  unsigned drop_after;         /* DROP_MID_IO: the Nth SCSI command; default 1 */
  uint32_t short_by;           /* SHORT_DATA_IN: bytes withheld; default 1024 */
  uint32_t disk_bytes;         /* default 1 MiB, 512-byte blocks */
  uint32_t max_recv_dsl;       /* ours, declared at login; default 65536 */
  uint32_t first_burst_length; /* our limit; default 65536 */
  uint32_t max_burst_length;   /* our limit; default 262144 */
  uint32_t max_connections;    /* answered to the offer; default 1. Above 1 the
                                  target claims MC/S yet makes a new session of
                                  every login (a "stray session" target) */
  int initial_r2t;             /* FAKE_ACCEPT: the initiator's offer; FAKE_FORCE_YES */
  int immediate_data;          /* FAKE_ACCEPT: the initiator's offer; FAKE_FORCE_NO */
  int mcs;                     /* nonzero: logins with a TSIH join that session (real MC/S),
                                  MaxConnections answered with max_connections (default 4) */
  int cmd_window;              /* MaxCmdSN = ExpCmdSN + cmd_window - 1; 0: 32; < 0: closed */
  int later_window;            /* the same for every session after the first; 0: cmd_window */
  int drop_once;               /* DROP_MID_IO: only the first connection drops */
  unsigned drop_count;         /* DROP_MID_IO: only the first drop_count connections drop; 0: all */
  unsigned drop_conn;          /* DROP_MID_IO: nonzero: only the connection accepted drop_conn-th drops */
  unsigned mute_nops_conn;     /* nonzero: NOP-Outs on the connection accepted mute_nops_conn-th
                                  are never answered (a slow path under its probes) */
  /* Text the target chooses, sent as it is (any bytes but NUL: invalid UTF-8
   * too); the strings must live as long as the target. */
  const char *target_alias;    /* TargetAlias of a normal login (in its operational stage); NULL:
                                  "fake-target" (in its first response) */
  const char *redirect_to;     /* LOGIN_REDIRECT_LOOP: the TargetAddress; NULL: its own portal */
  const char *extra_target;    /* SendTargets lists this TargetName too, */
  const char *extra_address;   /* at this TargetAddress (NULL: its own portal) */
  /* An Asynchronous Message (RFC 7143 11.9), sent once after a connection's
   * async_after-th SCSI command (default 1) was answered, on the first
   * joined connection (async_on_joined, opts.mcs) or else on any one.
   * AsyncEvent 2 names that connection's CID in Parameter1 (async_names_other:
   * another connection of the session; async_cid: nonzero, that CID), and
   * the named connection is dropped FAKE_ASYNC_DROP_MS later; AsyncEvent 3
   * drops every connection of the session then. */
  int async_event;             /* 0: none */
  uint16_t async_param[3];     /* Parameter1..3 (1 and 2 filled in as above) */
  unsigned async_after;
  int async_on_joined, async_names_other;
  uint16_t async_cid;
  uint16_t join_tpgt;          /* TargetPortalGroupTag on joining logins; 0: the same as the others (1) */
  /* Storms (issue 15): the next storm_count I/O commands (every SCSI command
   * but INQUIRY, REPORT LUNS and READ CAPACITY, which learn the geometry)
   * are answered with the storm's condition, then normally. Re-armed at run
   * time with fake_target_storm. */
  int storm;                   /* FAKE_STORM_* */
  unsigned storm_count;
  uint32_t max_transfer_blocks; /* nonzero: a Block Limits VPD page (0xB0) with this MAXIMUM
                                   TRANSFER LENGTH; 0: no such page */
  int lun1_4k;                 /* nonzero: LUN 1 too, with 4096-byte blocks over the same disk */
  int unmap;                   /* nonzero: UNMAP offered (Block Limits with UNMAP limits, LBP page
                                  with LBPU) and answered GOOD, the data kept */
} fake_target_opts;

enum { FAKE_STORM_NONE = 0, FAKE_STORM_UA, FAKE_STORM_BUSY, FAKE_STORM_TSF, FAKE_STORM_ABORTED };
/* "ua", "busy", "tsf", "aborted" -> FAKE_STORM_*, or -1. */
int fake_storm_parse(const char *name);
/* Arms a storm: the next count I/O commands get it (any thread). */
void fake_target_storm(fake_target *ft, int storm, unsigned count);

#define FAKE_ASYNC_DROP_MS 200

/* Starts a target thread; NULL (with a message on stderr) on failure. */
fake_target *fake_target_start(fake_scenario scenario);
fake_target *fake_target_start_opts(const fake_target_opts *opts);
/* Stops the thread (joins it), closes every fd and frees everything.
 * Safe at any time, whatever state the connections are in; NULL is fine. */
void fake_target_stop(fake_target *ft);

uint16_t fake_target_port(const fake_target *ft);
/* "127.0.0.1:<port>", valid until fake_target_stop. */
const char *fake_target_portal(const fake_target *ft);
/* The target's IQN; any other TargetName is refused with 0x0203. */
const char *fake_target_iqn(const fake_target *ft);

/* Counters, readable from any thread while the target runs. */
unsigned fake_target_connections(const fake_target *ft); /* TCP connections accepted */
unsigned fake_target_logins(const fake_target *ft);      /* Login Requests received */
unsigned fake_target_sessions(const fake_target *ft);    /* logins that reached Full Feature */
unsigned fake_target_commands(const fake_target *ft);    /* SCSI Commands received */
unsigned fake_target_io_commands(const fake_target *ft); /* of them, I/O commands (what a storm hits) */
unsigned fake_target_storm_answers(const fake_target *ft); /* I/O commands answered by a storm */
unsigned fake_target_rw_commands(const fake_target *ft); /* READ/WRITE(10/16) received */
unsigned fake_target_fua(const fake_target *ft);         /* of them, with FUA (CDB byte 1 bit 3) */
unsigned fake_target_syncs(const fake_target *ft);       /* SYNCHRONIZE CACHE(10/16) received */
unsigned fake_target_unmaps(const fake_target *ft);      /* UNMAP received (opts.unmap) */
unsigned fake_target_dpo(const fake_target *ft);         /* of them, with DPO (byte 1 bit 4) */
uint32_t fake_target_max_rw_blocks(const fake_target *ft); /* the most blocks one READ/WRITE asked */
unsigned fake_target_nops(const fake_target *ft);        /* NOP-Outs received */
unsigned fake_target_logouts(const fake_target *ft);     /* Logout Requests received */
unsigned fake_target_r2ts(const fake_target *ft);        /* R2Ts sent */
unsigned fake_target_data_outs(const fake_target *ft);   /* Data-Out PDUs received */
/* Non-immediate commands whose CmdSN was beyond the MaxCmdSN last
 * advertised: on that connection (a one-connection session: the last one
 * the initiator had seen, by its ExpStatSN), and in every case session-wide
 * (the highest MaxCmdSN the target had sent on any connection of the
 * session, ExpCmdSN and MaxCmdSN being session-wide under opts.mcs). */
unsigned fake_target_window_violations(const fake_target *ft);
/* The non-immediate commands that arrived on connections of MC/S sessions. */
unsigned fake_target_mcs_commands(const fake_target *ft);
/* What followed the Asynchronous Message (times: CLOCK_MONOTONIC ms, 0: not
 * yet): when it went out, the first Login Request on a new connection after
 * it, the first Logout Request after it (its reason, and whether it came on
 * the connection the message went out on), the first Text Request after it
 * (idem), the CID the message went out on, and the commands sent on it after. */
typedef struct fake_async_log {
  int64_t sent_ms, login_ms, logout_ms, text_ms;
  int logout_reason, logout_on_same, text_on_same;
  uint16_t cid;
  unsigned cmds_after;   /* SCSI commands on that connection sent after the initiator had read the message
                            (their ExpStatSN is past its StatSN) */
} fake_async_log;
void fake_target_async_log(fake_target *ft, fake_async_log *out);
/* Reserved fields not zero: LUN in a Data-Out with TTT 0xffffffff, RefCmdSN
 * in a LOGICAL UNIT RESET. */
unsigned fake_target_reserved_violations(const fake_target *ft);
/* How the initiator ended connections: reset (RST) or closed (FIN). */
unsigned fake_target_resets(const fake_target *ft);
unsigned fake_target_eofs(const fake_target *ft);
/* The scenario's name ("LOGIN_NEVER_ANSWERS"), for test messages. */
const char *fake_scenario_name(fake_scenario scenario);
#endif
