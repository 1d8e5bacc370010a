/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcsid.h: the daemon object every part of mcsid shares.
 *
 * Layout: main.c (options, signals, start and stop), clients.c (the socket,
 * peers, per-client bounds), rpc.c (JSON-RPC 2.0 framing), methods.c (the
 * dispatch table, parameter schemas, calls), methods_*.c (the methods, one
 * file per family), state.c (the state and secret files), persist.c
 * (persistent logins kept up with back-off), budget.c (the memory budget of
 * client I/O), secrets.c (CHAP from files and accounts), config.c, log.c.
 * Everything runs on the engine's loop (mcsi_process): no thread, no
 * blocking call. */
#ifndef MCSID_H
#define MCSID_H

#include <stdint.h>
#include <jansson.h>
#include "mcsi.h"
#include "config.h"
#include "state.h"

#ifndef MCSID_VERSION
#define MCSID_VERSION "0.0.0"
#endif
#define MCSID_PROTOCOL_VERSION 1

typedef struct mcsid_client mcsid_client;
typedef struct mcsid_keeper mcsid_keeper;
typedef struct mcsid_export mcsid_export;

typedef struct mcsid {
  mcsi_initiator *ini;
  mcsid_config config;
  const char *config_path;
  const char *socket_path;
  mcsid_state state;
  int listen_fd;
  uint64_t listen_watch;
  mcsid_client *clients;        /* every open client, newest first */
  long nclients;
  unsigned long client_serial;  /* names clients in log lines */
  long nclients_paused;         /* clients not read while the memory budget is full (clients.c) */
  unsigned long pause_serial;   /* orders them: the longest waiting resumes first */
  uint64_t resume_timer;        /* resumes them once memory is given back */
  uint64_t refused_log_ms;      /* connections refused for a limit: one log line a second (clients.c) */
  unsigned long refused_unlogged;
  size_t mem_used;              /* bytes of memory_budget in use (budget.c) */
  size_t mem_given;             /* given back since the heap was last trimmed */
  uint64_t trim_timer;
  mcsid_keeper *keepers;        /* one per persistent target */
  mcsid_export *exports;        /* NBD exports, oldest first (exports.c) */
  int stopping;                 /* SIGTERM/SIGINT seen: logging out */
  int done;                     /* leave the loop */
  int exit_code;
} mcsid;

/* The one event subscriber of the daemon: fans events out to subscribed
 * clients and to the persistent logins (methods_events.c). */
void mcsid_events_start(mcsid *d);

/* A session made while the daemon stops is logged out with the rest (main.c). */
void mcsid_logout_on_shutdown(mcsid *d, mcsi_id sid);

#endif
