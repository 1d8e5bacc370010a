/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.h: mcsid's configuration file, key = value lines.
 *
 * '#' starts a comment; blank lines are ignored; spaces around '=' are
 * ignored. Unknown keys are warned about and ignored; a bad value makes the
 * whole file refused (at start: exit 1; on SIGHUP: the old one is kept).
 * A missing file means every default. Keys, defaults and meaning: the table
 * in config.c and daemon/mcsid.conf. */
#ifndef MCSID_CONFIG_H
#define MCSID_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

typedef struct mcsid_config {
  char initiator_name[224];     /* "" : the engine's default (iqn...:<hostname>) */
  char socket_group[64];        /* "" : root and the daemon's uid only */
  char export_dir[96];          /* NBD exports' Unix sockets live here only (exportdir.h); absolute */
  int log_level;                /* -1: not set in the file */
  long request_max;             /* bytes of one request line */
  long max_pending;             /* requests in flight per client */
  long max_clients;
  long max_clients_per_uid;     /* clients of one uid other than root's and the daemon's */
  long reserved_clients;        /* of max_clients, kept for root and the daemon's uid */
  long idle_timeout_ms;         /* a non-root client with nothing in flight and no subscription: closed */
  long memory_budget;           /* bytes for every client's I/O data in flight and answers queued (budget.h) */
  long partial_timeout_ms;      /* a partial request line idle this long: closed */
  long output_max;              /* bytes queued for one client beyond its socket */
  long shutdown_timeout_ms;     /* SIGTERM: logouts get this long in all */
  long retry_initial_ms, retry_max_ms; /* persistent logins' back-off */
  long login_timeout_ms;        /* default login timeout of LoginToTarget */
  long nop_interval_ms;         /* keep-alive of every connection: a NOP-Out after this much silence */
  long nop_timeout_ms;          /* and the connection fails without its NOP-In within this */
  char policy_dir[1024];        /* "" : the built-in policies only (failover, drain, rebalance) */
  char default_policy[64];      /* "" : none; else attached to persistent targets without a PolicyScript */
  long policy_instructions;     /* a policy activation's VM instruction budget */
  long policy_ms;               /* and its wall time budget */
  /* NBD exports over TCP: TLS (daemon/export_tls.c). The files are root's,
   * named here only: never by a client. */
  char nbd_tls_cert[1024];      /* PEM server certificate (chain); with nbd_tls_key: X.509 */
  char nbd_tls_key[1024];
  char nbd_tls_ca[1024];        /* "" : clients are not asked for a certificate; else they must
                                   present one this CA signed */
  char nbd_tls_psk_file[1024];  /* "" : no PSK; else psktool's username:hexkey lines */
  int nbd_plain_tcp;            /* 1: an export may say "Tls": "off" (plain TCP); default 0 */
  char policy_user[64];         /* "" : nobody; the user the policies' processes run as */
  long policy_memory_mb;        /* a policy's Lua heap (its process: this + 256 MiB of address space) */
  long policy_cpu_ms;           /* a policy's CPU in any policy_cpu_window_ms: past it, killed */
  long policy_cpu_window_ms;
  long max_policies;            /* policies running at once */
} mcsid_config;

void mcsid_config_defaults(mcsid_config *c);
/* 0 on success (a missing file included), -1 with a log line on a bad file. */
int mcsid_config_load(mcsid_config *c, const char *path);
/* The gid of socket_group; 0 with *found 0 when none is configured or it does not exist. */
gid_t mcsid_config_group(const mcsid_config *c, int *found);

#endif
