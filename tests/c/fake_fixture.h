/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake_fixture.h: one initiator against one fake target (fake_target.h),
 * the helpers every fake-target test uses. */
#ifndef MCSI_FAKE_FIXTURE_H
#define MCSI_FAKE_FIXTURE_H
#include <stddef.h>
#include <stdint.h>
#include "fake_target.h"
#include "mcsi.h"
#include "testopts.h"

#define TIMEOUT_MS 1000          /* login_timeout_ms and command_timeout_ms */
#define DISK_BLOCKS 2048u        /* the fake target's default 1 MiB disk */
#define BLOCK 512u

/* One initiator logged in (or not) to one fake target. */
typedef struct fx {
  fake_target *ft;
  mcsi_initiator *ini;
  mcsi_login_opts *lo;            /* the tests' (testopts.h): freed at exit */
  mcsi_id sid, cid;
  mcsi_status login;
} fx;

int64_t now_ms(void);
const char *st_name(mcsi_status st);
const char *last_msg(const fx *f);
/* Asserts a status by name, so a failure prints both names. */
int t_status(mcsi_status got, mcsi_status want, const char *what, const fx *f);
/* Starts the target and an initiator with short timeouts; no login. */
int fx_init(fx *f, const fake_target_opts *to);
mcsi_status fx_login(fx *f);
/* Starts, logs in and asserts the login succeeded. */
int fx_start(fx *f, const fake_target_opts *to);
int fx_start_scenario(fx *f, fake_scenario sc, int variant);
/* Adds a connection to the same fake target and asserts it succeeded: its id, or 0. */
mcsi_id fx_add_conn(fx *f, const char *what);
void fx_end(fx *f);
/* Logs out of a session the test expects to be healthy. */
void fx_logout_ok(fx *f, const char *what);
/* Logs out of a session that may be broken: success or a failed Logout
 * exchange (an explicit list), and the session is gone afterwards. */
void fx_logout_any(fx *f, const char *what);
void cdb_rw10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t blocks);
void pattern(uint8_t *p, size_t n, unsigned seed);
/* Bytes of heap in use (mallinfo2). */
size_t heap_in_use(void);

/* Completion of one asynchronous command. */
typedef struct async_done { int done; mcsi_status st; } async_done;
void on_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg);
#endif
