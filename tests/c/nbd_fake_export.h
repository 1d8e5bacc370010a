/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nbd_fake_export.h: a fake target's LUN 0 exported in process (nbd/,
 * fake_target.h), with its checks, for the NBD tests that need one
 * (test_nbd_batch, test_nbd_policy). Header-only: every file of tests/c that is
 * not a test is linked into build/tests/fake-target too, which has no nbd/.
 *
 *   t_nbd_fake_export(ini, ft, prefix, login_what, export_what, x)
 *       logs ini in to ft (login timeout 5 s, no session recovery), makes
 *       $TMPDIR/PREFIX.XXXXXX and exports LUN 0 as "lun0" on its socket "s"
 *       (x->sock_path, x->e), asserting the login and the export: 1 when the
 *       export was tried (x->e NULL if it failed), else 0
 *   t_nbd_fake_end(ini, x)
 *       stops the export, removes the directory, logs out */
#ifndef MCSI_NBD_FAKE_EXPORT_H
#define MCSI_NBD_FAKE_EXPORT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fake_target.h"
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "testlib.h"
#include "testopts.h"

typedef struct t_nbd_fake {
  mcsi_id sid;
  int logged_in;
  char dir[64];                       /* "" when not made */
  char sock_path[108];
  mcsi_nbd_export *e;
} t_nbd_fake;

static inline int t_nbd_fake_export(mcsi_initiator *ini, fake_target *ft, const char *prefix, const char *login_what,
                                    const char *export_what, t_nbd_fake *x)
{
  memset(x, 0, sizeof *x);
  mcsi_login_opts *lo = t_login_opts(ft ? fake_target_portal(ft) : "", ft ? fake_target_iqn(ft) : "",
                                     MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, MCSI_OPT_RECOVERY_TIMEOUT_MS, -1, 0);
  mcsi_id sid = 0;
  mcsi_status st = ft ? mcsi_login_to_target(ini, lo, &sid, NULL) : ISDSC_CONNECTION_FAILED;
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s (%s)", login_what, mcsi_last_message(ini));
  if (st)
    return 0;
  x->sid = sid;
  x->logged_in = 1;
  snprintf(x->dir, sizeof x->dir, "%s/%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
  if (!mkdtemp(x->dir)) {
    x->dir[0] = 0;
    return 0;
  }
  snprintf(x->sock_path, sizeof x->sock_path, "%s/s", x->dir);
  char err[256] = "";
  mcsi_nbd_opts o = { .socket_path = x->sock_path, .name = "lun0" };
  x->e = mcsi_nbd_export_start(ini, sid, 0, &o, err, sizeof err);
  T_OK(x->e != NULL, "%s (%s)", export_what, err);
  return 1;
}

static inline void t_nbd_fake_end(mcsi_initiator *ini, t_nbd_fake *x)
{
  if (x->e)
    mcsi_nbd_export_stop(x->e);
  if (x->dir[0])
    rmdir(x->dir);
  if (x->logged_in)
    mcsi_logout_from_target(ini, x->sid);
  memset(x, 0, sizeof *x);
}
#endif
