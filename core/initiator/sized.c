/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sized.c: the "Sized results" of mcsi.h on the library's side: a struct a
 * blocking form fills in the caller's memory starts with struct_size, the
 * caller's sizeof; the library writes no more than that, nor more than it
 * knows, and says how much it wrote. */
#include <string.h>
#include "initiator.h"

mcsi_status mcsi_sized_check(mcsi_initiator *ini, const void *p, size_t first_size, const char *what)
{
  size_t have = p ? *(const size_t *)p : first_size;
  if (have >= first_size) return ISDSC_SUCCESS;
  return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "%s.struct_size is %zu, below %zu: set it to sizeof (mcsi.h, Sized results)",
                   what, have, first_size);
}

void mcsi_sized_copy(void *dst, const void *src, size_t lib_size)
{
  size_t n = *(const size_t *)dst < lib_size ? *(const size_t *)dst : lib_size;
  memcpy(dst, src, n);
  memcpy(dst, &n, sizeof n);
}
