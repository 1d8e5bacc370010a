/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* budget.h: one memory budget (memory_budget, config.h) for every client's
 * requests in flight and answers queued.
 *
 * What is counted: the data buffers of ScsiRead, ScsiWrite and ScsiCommand
 * from the moment a request is accepted until its answer is built
 * (methods_io.c), and every client's output queue (clients.c). When the
 * bytes in use reach the budget, clients.c stops reading requests (their
 * fds are no longer watched for input; lines already read wait) until
 * memory is given back; a request once accepted is never failed or dropped
 * for it, so the budget can be passed by the one request that was accepted
 * last. A single request larger than the whole budget answers
 * ISDSC_OUT_OF_RESOURCES. Memory given back goes back to the OS: the large
 * buffers (mcsid_buf_*) are mmap'd, not malloc'd (glibc raises its mmap
 * threshold after the first large free and would keep them in the heap),
 * and what passed through malloc (the JSON text of answers) is trimmed
 * (malloc_trim) at most once a second while memory is given back. */
#ifndef MCSID_BUDGET_H
#define MCSID_BUDGET_H

#include <stddef.h>
#include "mcsid.h"

/* Whether the bytes in use reached memory_budget: read no more requests. */
int mcsid_budget_full(const mcsid *d);
/* Whether a request of n bytes can ever fit (n <= memory_budget). */
int mcsid_budget_fits(const mcsid *d, size_t n);
void mcsid_budget_take(mcsid *d, size_t n);
/* Gives n bytes back; when that ends a full budget, the paused clients are
 * resumed (clients.c, from a timer: never from inside the caller). */
void mcsid_budget_give(mcsid *d, size_t n);

/* Buffers of client I/O, zeroed: from 128 KiB on straight from mmap, so
 * that freeing gives them back to the OS at once; smaller ones from malloc.
 * size: what was asked for (the same at realloc and free). NULL: out of
 * memory (realloc: p is left as it was). */
void *mcsid_buf_alloc(size_t size);
void *mcsid_buf_realloc(void *p, size_t old, size_t size);
void mcsid_buf_free(void *p, size_t size);

#endif
