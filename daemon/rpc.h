/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rpc.h: JSON-RPC 2.0 framing, one JSON object per line (doc/protocol.md).
 *
 * Protocol errors only are JSON-RPC errors: parse error (-32700), invalid
 * request (-32600, batches included: they are not supported), unknown
 * method (-32601), invalid params (-32602), internal error (-32603: out of
 * memory while answering), and mcsid's own bounds in the
 * server range (-32000 too many requests in flight, -32001 request too
 * large). An operation that fails is a result with a failing Status. */
#ifndef MCSID_RPC_H
#define MCSID_RPC_H

#include <stddef.h>
#include <jansson.h>
#include "mcsi.h"

enum {
  RPC_PARSE_ERROR = -32700,
  RPC_INVALID_REQUEST = -32600,
  RPC_METHOD_NOT_FOUND = -32601,
  RPC_INVALID_PARAMS = -32602,
  RPC_INTERNAL_ERROR = -32603,
  RPC_TOO_MANY_REQUESTS = -32000,
  RPC_REQUEST_TOO_LARGE = -32001,
};

typedef struct mcsid_request {
  json_t *root;        /* owns everything below */
  json_t *id;          /* NULL: a notification (no answer) */
  const char *method;
  json_t *params;      /* an object (empty when absent) */
} mcsid_request;

/* Parses one line. 0: *req filled (free with mcsid_request_free). -1:
 * *error is the error response to send (id null unless the id was readable). */
int mcsid_rpc_parse(const char *line, size_t len, mcsid_request *req, json_t **error);
void mcsid_request_free(mcsid_request *req);

/* New references. id may be NULL (sent as null). */
json_t *mcsid_rpc_error(json_t *id, int code, const char *message);
json_t *mcsid_rpc_result(json_t *id, json_t *result /* stolen */);
json_t *mcsid_rpc_notification(const char *method, json_t *params /* stolen */);
/* {"Status": n, "StatusName": "ISDSC_...", "StatusMessage": message}; the
 * message may quote a target: bytes that are not UTF-8 become \xHH
 * (json_text.h), as in mcsid_rpc_error's message. */
json_t *mcsid_status_object(mcsi_status st, const char *message);
/* The message as one line with its '\n' (malloc'd), NULL on failure. */
char *mcsid_rpc_line(json_t *msg, size_t *len);

#endif
