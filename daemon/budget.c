/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* budget.c: the memory budget of client requests (see budget.h). */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "budget.h"
#include "clients.h"

#define BIG (128u << 10)        /* glibc's initial mmap threshold */
#define TRIM_AFTER (1u << 20)   /* bytes given back before the heap is trimmed */
#define TRIM_DELAY_MS 1000      /* and at most this often */

int mcsid_budget_full(const mcsid *d) { return d->mem_used >= (size_t)d->config.memory_budget; }

int mcsid_budget_fits(const mcsid *d, size_t n) { return n <= (size_t)d->config.memory_budget; }

void mcsid_budget_take(mcsid *d, size_t n) { d->mem_used += n; }

static void trim_due(mcsi_initiator *ini, void *arg)
{
  mcsid *d = arg;
  (void)ini;
  d->trim_timer = 0;
  d->mem_given = 0;
  malloc_trim(0);
}

void mcsid_budget_give(mcsid *d, size_t n)
{
  d->mem_used = n < d->mem_used ? d->mem_used - n : 0;
  d->mem_given += n;
  if (d->mem_given >= TRIM_AFTER && !d->trim_timer) d->trim_timer = mcsi_timer_add(d->ini, TRIM_DELAY_MS, trim_due, d);
  if (!mcsid_budget_full(d)) mcsid_clients_resume(d);
}

/* ---- buffers ------------------------------------------------------------------------------- */

void *mcsid_buf_alloc(size_t size)
{
  if (size < BIG) return calloc(1, size ? size : 1);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void mcsid_buf_free(void *p, size_t size)
{
  if (!p) return;
  if (size < BIG) free(p);
  else munmap(p, size);
}

void *mcsid_buf_realloc(void *p, size_t old, size_t size)
{
  if (!p) return mcsid_buf_alloc(size);
  if (old < BIG && size < BIG) {
    void *n = realloc(p, size ? size : 1);
    if (n && size > old) memset((char *)n + old, 0, size - old);
    return n;
  }
  if (old >= BIG && size >= BIG) {
    void *n = mremap(p, old, size, MREMAP_MAYMOVE);
    return n == MAP_FAILED ? NULL : n;
  }
  void *n = mcsid_buf_alloc(size);
  if (!n) return NULL;
  memcpy(n, p, old < size ? old : size);
  mcsid_buf_free(p, old);
  return n;
}
