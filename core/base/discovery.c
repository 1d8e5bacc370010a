/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* discovery.c: the SendTargets answer as a list of targets and addresses. */
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "discovery.h"
#include "text.h"

static void free_entry(mcsi_target_entry *e)
{
  for (size_t i = 0; i < e->naddr; i++) free(e->addresses[i]);
  free(e->addresses);
  free(e->name);
}

void mcsi_target_list_free(mcsi_target_list *list)
{
  if (!list) return;
  for (size_t i = 0; i < list->count; i++) free_entry(&list->targets[i]);
  free(list->targets);
  free(list);
}

static int add_target(mcsi_target_list *l, const char *name)
{
  mcsi_target_entry *n = realloc(l->targets, (l->count + 1) * sizeof *n);
  if (!n) return -1;
  l->targets = n;
  memset(&n[l->count], 0, sizeof *n);
  n[l->count].name = mcsi_strdup0(name);
  if (!n[l->count].name) return -1;
  l->count++;
  return 0;
}

static int add_address(mcsi_target_entry *e, const char *addr)
{
  char **n = realloc(e->addresses, (e->naddr + 1) * sizeof *n);
  if (!n) return -1;
  e->addresses = n;
  if (!(n[e->naddr] = mcsi_strdup0(addr))) return -1;
  e->naddr++;
  return 0;
}

mcsi_target_list *mcsi_target_list_dup(const mcsi_target_list *list)
{
  mcsi_target_list *l = list ? calloc(1, sizeof *l) : NULL;
  int bad = !l;
  for (size_t i = 0; !bad && i < list->count; i++) {
    bad = add_target(l, list->targets[i].name);
    for (size_t j = 0; !bad && j < list->targets[i].naddr; j++) bad = add_address(&l->targets[i], list->targets[i].addresses[j]);
  }
  if (!bad) return l;
  mcsi_target_list_free(l);
  return NULL;
}

mcsi_status mcsi_parse_send_targets(const uint8_t *data, size_t len, mcsi_target_list **out, char *msg)
{
  mcsi_text t;
  const char *bad = NULL;
  mcsi_text_init(&t);
  mcsi_target_list *l = calloc(1, sizeof *l);
  if (!l) return mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  if (len && mcsi_text_parse_multi(&t, data, len, &bad)) {
    mcsi_text_free(&t);                 /* what was parsed before the bad part */
    mcsi_target_list_free(l);
    return mcsi_msg(msg, ISDSC_INVALID_SENDTARGETS_TEXT, "malformed SendTargets reply: %s", bad ? bad : "out of memory");
  }
  mcsi_status st = ISDSC_SUCCESS;
  for (size_t i = 0; i < t.count && !st; i++) {
    const mcsi_kv *kv = &t.items[i];
    if (!strcmp(kv->key, "TargetName")) {
      if (add_target(l, kv->value)) st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
    } else if (!strcmp(kv->key, "TargetAddress")) {
      if (!l->count) st = mcsi_msg(msg, ISDSC_INVALID_SENDTARGETS_TEXT, "TargetAddress before any TargetName");
      else if (add_address(&l->targets[l->count - 1], kv->value)) st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
    }
  }
  mcsi_text_free(&t);
  if (st) mcsi_target_list_free(l);
  else *out = l;
  return st;
}
