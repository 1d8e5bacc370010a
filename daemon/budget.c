/* budget.c: the memory budget of client requests (see budget.h). */
#include <malloc.h>
#include "budget.h"
#include "clients.h"

#define MMAP_THRESHOLD (128u << 10)   /* glibc's initial value, kept fixed */
#define TRIM_AFTER (16u << 20)        /* bytes given back before the heap is trimmed */
#define TRIM_DELAY_MS 200             /* and at most this often */

void mcsid_budget_init(void)
{
  mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

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
