/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_status.c: the ISDSC status table (core/status_list.h, core/status.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcsi.h"
#include "testlib.h"

/* core/isdsc-status.tsv, the table status_list.h is generated from (the
 * Makefile gives its absolute path); MCSI_STATUS_TSV names another copy. */
#ifndef MCSI_STATUS_TSV_PATH
#define MCSI_STATUS_TSV_PATH "core/isdsc-status.tsv"
#endif

static void test_table(void)
{
  size_t n = mcsi_status_count(), bad = 0;

  T_EQ_INT(n, 105, "105 status codes");
  T_EQ_INT(mcsi_status_at(0), ISDSC_SUCCESS, "first is ISDSC_SUCCESS");
  for (size_t i = 0; i < n; i++) {
    mcsi_status st = mcsi_status_at(i);
    const char *name = mcsi_status_name(st), *msg = mcsi_status_message(st);
    if (!name || !msg || strncmp(name, "ISDSC_", 6) != 0 || !*msg)
      bad++;
    for (size_t j = 0; j < i; j++)
      if (mcsi_status_at(j) == st)
        bad++;
  }
  T_EQ_INT(bad, 0, "every value has a name and a message, no value twice");
  T_EQ_STR(mcsi_status_name(ISDSC_LOGIN_FAILED), "ISDSC_LOGIN_FAILED", "name of LOGIN_FAILED");
  T_EQ_STR(mcsi_status_message(ISDSC_LOGIN_FAILED), "Login failed", "message of LOGIN_FAILED");
  T_EQ_STR(mcsi_status_name(0xEFFF0068u), "ISDSC_INVALID_HOST", "name of the last value");
  T_EQ_STR(mcsi_status_name(0xEFFF9999u), NULL, "unknown value: name NULL");
  T_EQ_STR(mcsi_status_message(0x12345678u), NULL, "unknown value: message NULL");
  T_EQ_STR(mcsi_status_name(mcsi_status_at(n)), NULL, "status_at past the end is no status");
}

static void test_ok(void)
{
  T_OK(mcsi_status_ok(ISDSC_SUCCESS), "ok(0)");
  T_OK(mcsi_status_ok(0xAFFF0048u), "ok(0xAFFF0048) (warning)");
  T_EQ_INT(ISDSC_SHORT_CHAP_SECRET, 0xAFFF0048u, "ISDSC_SHORT_CHAP_SECRET is 0xAFFF0048");
  T_OK(!mcsi_status_ok(0xEFFF0002u), "!ok(0xEFFF0002) (ISDSC_LOGIN_FAILED)");
  T_OK(!mcsi_status_ok(ISDSC_NON_SPECIFIC_ERROR), "!ok(ISDSC_NON_SPECIFIC_ERROR)");
  T_OK(!mcsi_status_ok(1), "!ok(1)");
}

/* Checks one "value\tname\tmessage" row; returns 0 if it matches. */
static int check_row(char *line, size_t row)
{
  char *name = strchr(line, '\t'), *msg, *end;
  unsigned long v;

  if (!name || !(msg = strchr(name + 1, '\t')))
    return T_OK(0, "row %zu has three columns", row), -1;
  *name++ = '\0';
  *msg++ = '\0';
  msg[strcspn(msg, "\r\n")] = '\0';
  v = strtoul(line, &end, 16);
  if (*end != '\0' || v > 0xFFFFFFFFul)
    return T_OK(0, "row %zu: bad value \"%s\"", row, line), -1;
  if (mcsi_status_at(row) != v)
    return T_EQ_INT(mcsi_status_at(row), v, "row %zu (%s): value/order", row, name), -1;
  if (!T_EQ_STR(mcsi_status_name((mcsi_status)v), name, "row %zu: name", row) ||
      !T_EQ_STR(mcsi_status_message((mcsi_status)v), msg, "row %zu: message", row))
    return -1;
  return 0;
}

static void test_tsv(void)
{
  const char *env = getenv("MCSI_STATUS_TSV"), *path = env ? env : MCSI_STATUS_TSV_PATH;
  FILE *f = fopen(path, "r");
  char line[1024];
  size_t rows = 0, bad = 0;

  if (!T_OK(f != NULL, "the ISDSC table %s can be opened", path))
    return;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "0x", 2) == 0)
      bad += check_row(line, rows++) != 0;
  fclose(f);
  T_EQ_INT(rows, mcsi_status_count(), "%s: as many rows as the table", path);
  T_EQ_INT(bad, 0, "%s: every row matches name, value and message", path);
}

int main(void)
{
  test_table();
  test_ok();
  test_tsv();
  return t_done();
}
