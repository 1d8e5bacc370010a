/* testopts.c: see testopts.h. */
#include <stdarg.h>
#include <stdlib.h>
#include "testlib.h"
#include "testopts.h"

#define MAX_KEPT 1024
static void *kept[MAX_KEPT];
static int kept_conn[MAX_KEPT];
static size_t nkept;

static void free_kept(void)
{
  for (size_t i = 0; i < nkept; i++) {
    if (kept_conn[i]) mcsi_conn_opts_free(kept[i]);
    else mcsi_login_opts_free(kept[i]);
  }
  nkept = 0;
}

static void keep(void *o, int conn)
{
  if (nkept == 0) atexit(free_kept);
  if (!o || nkept == MAX_KEPT) {
    T_OK(0, "test options: out of memory or more than %d handles", MAX_KEPT);
    exit(1);
  }
  kept_conn[nkept] = conn;
  kept[nkept++] = o;
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
  keep(o, 0);
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
  keep(o, 1);
  check(mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, portal), MCSI_OPT_PORTAL);
  va_list ap;
  va_start(ap, portal);
  for (int key; (key = va_arg(ap, int)) != 0;) check(mcsi_conn_opts_set_int(o, key, va_arg(ap, int)), key);
  va_end(ap);
  return o;
}
