/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testopts.c: see testopts.h. */
#include <stdarg.h>
#include <stdlib.h>
#include "testlib.h"
#include "testopts.h"

enum { LOGIN, CONN, INFO };
static struct kept { void *p; int kind; } *kept;
static size_t nkept, capkept;

static void free_kept(void)
{
  for (size_t i = 0; i < nkept; i++) {
    if (kept[i].kind == CONN) mcsi_conn_opts_free(kept[i].p);
    else if (kept[i].kind == INFO) mcsi_session_info_free(kept[i].p);
    else mcsi_login_opts_free(kept[i].p);
  }
  free(kept);
  kept = NULL;
  nkept = capkept = 0;
}

static void keep(void *o, int kind)
{
  if (!capkept) atexit(free_kept);
  if (nkept == capkept) {
    size_t cap = capkept ? 2 * capkept : 64;
    struct kept *n = realloc(kept, cap * sizeof *n);
    if (!n) {
      T_OK(0, "test handles: out of memory");
      exit(1);
    }
    kept = n;
    capkept = cap;
  }
  if (!o) {
    T_OK(0, "test handles: out of memory");
    exit(1);
  }
  kept[nkept].kind = kind;
  kept[nkept++].p = o;
}

mcsi_status t_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info **si)
{
  mcsi_status st = mcsi_session_get_info(ini, sid, si);
  if (!st) keep(*si, INFO);
  return st;
}

mcsi_session_info *t_info(mcsi_initiator *ini, mcsi_id sid)
{
  mcsi_session_info *si = NULL;
  mcsi_status st = t_get_info(ini, sid, &si);
  if (st) T_OK(0, "session info of %llu: %s (%s)", (unsigned long long)sid, mcsi_status_name(st), mcsi_last_message(ini));
  return si;
}

static int check(mcsi_status st, int key)
{
  if (st) T_OK(0, "test options: key %s refused: %s", mcsi_opt_name(key), mcsi_status_name(st));
  return st == ISDSC_SUCCESS;
}

mcsi_login_opts *t_login_set(mcsi_login_opts *o, int key, long long v)
{
  check(mcsi_login_opts_set_int(o, key, v), key);
  return o;
}

mcsi_login_opts *t_login_set_string(mcsi_login_opts *o, int key, const char *v)
{
  check(mcsi_login_opts_set_string(o, key, v), key);
  return o;
}

mcsi_conn_opts *t_conn_set_string(mcsi_conn_opts *o, int key, const char *v)
{
  check(mcsi_conn_opts_set_string(o, key, v), key);
  return o;
}

mcsi_login_opts *t_login_opts(const char *portal, const char *target, ...)
{
  mcsi_login_opts *o = mcsi_login_opts_new();
  keep(o, LOGIN);
  check(mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, portal), MCSI_OPT_PORTAL);
  check(mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, target), MCSI_OPT_TARGET);
  va_list ap;
  va_start(ap, target);
  for (int key; (key = va_arg(ap, int)) != 0;) check(mcsi_login_opts_set_int(o, key, va_arg(ap, int)), key);
  va_end(ap);
  return o;
}

mcsi_conn_opts *t_conn_opts(const char *portal, ...)
{
  mcsi_conn_opts *o = mcsi_conn_opts_new();
  keep(o, CONN);
  check(mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, portal), MCSI_OPT_PORTAL);
  va_list ap;
  va_start(ap, portal);
  for (int key; (key = va_arg(ap, int)) != 0;) check(mcsi_conn_opts_set_int(o, key, va_arg(ap, int)), key);
  va_end(ap);
  return o;
}
