/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* discovery.h: the answer to SendTargets=All as a list of targets. */
#ifndef MCSI_DISCOVERY_H
#define MCSI_DISCOVERY_H
#include <stddef.h>
#include <stdint.h>
#include "mcsi.h"

/* The text (with C-bit continuations joined) to a list; msg (MCSI_MSG_MAX
 * bytes) gets why not. */
mcsi_status mcsi_parse_send_targets(const uint8_t *data, size_t len, mcsi_target_list **out, char *msg);
#endif
