/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status.c: names and messages of the ISDSC status codes (core/status_list.h). */
#include "mcsi.h"

#define MCSI_STATUS_OK_MASK 0xFFFF0000u
#define MCSI_STATUS_WARNING 0xAFFF0000u

/* Table order, for mcsi_status_count / mcsi_status_at. */
static const mcsi_status mcsi_status_table[] = {
#define MCSI_X_VALUE(name, value, msg) value,
  MCSI_STATUS_LIST(MCSI_X_VALUE)
#undef MCSI_X_VALUE
};

/* The switches below fail to compile if the table holds a value twice. */
const char *mcsi_status_name(mcsi_status st)
{
  switch (st) {
#define MCSI_X_NAME(name, value, msg) case value: return #name;
    MCSI_STATUS_LIST(MCSI_X_NAME)
#undef MCSI_X_NAME
  default: return NULL;
  }
}

const char *mcsi_status_message(mcsi_status st)
{
  switch (st) {
#define MCSI_X_MSG(name, value, msg) case value: return msg;
    MCSI_STATUS_LIST(MCSI_X_MSG)
#undef MCSI_X_MSG
  default: return NULL;
  }
}

int mcsi_status_ok(mcsi_status st)
{
  return st == ISDSC_SUCCESS || (st & MCSI_STATUS_OK_MASK) == MCSI_STATUS_WARNING;
}

size_t mcsi_status_count(void)
{
  return sizeof mcsi_status_table / sizeof mcsi_status_table[0];
}

/* Out of range: 0xFFFFFFFF, which is no status (its name is NULL). */
mcsi_status mcsi_status_at(size_t i)
{
  if (i >= mcsi_status_count())
    return 0xFFFFFFFFu;
  return mcsi_status_table[i];
}
