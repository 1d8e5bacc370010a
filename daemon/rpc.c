/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rpc.c: JSON-RPC 2.0 messages, one per line (see rpc.h). */
#include <stdlib.h>
#include <string.h>
#include "json_text.h"
#include "rpc.h"

static int id_valid(const json_t *id)
{
  return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

static int invalid(mcsid_request *req, json_t **error, json_t *id, int code, const char *message)
{
  *error = mcsid_rpc_error(id, code, message);
  json_decref(req->root);
  memset(req, 0, sizeof *req);
  return -1;
}

int mcsid_rpc_parse(const char *line, size_t len, mcsid_request *req, json_t **error)
{
  json_error_t jerr;
  memset(req, 0, sizeof *req);
  req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!req->root) return invalid(req, error, NULL, RPC_PARSE_ERROR, "parse error: not a JSON text");
  if (json_is_array(req->root))
    return invalid(req, error, NULL, RPC_INVALID_REQUEST, "invalid request: batches are not supported");
  if (!json_is_object(req->root))
    return invalid(req, error, NULL, RPC_INVALID_REQUEST, "invalid request: not an object");
  json_t *id = json_object_get(req->root, "id");
  if (id && !id_valid(id))
    return invalid(req, error, NULL, RPC_INVALID_REQUEST, "invalid request: id must be a string, an integer or null");
  json_t *version = json_object_get(req->root, "jsonrpc");
  if (!json_is_string(version) || strcmp(json_string_value(version), "2.0"))
    return invalid(req, error, id, RPC_INVALID_REQUEST, "invalid request: jsonrpc must be \"2.0\"");
  json_t *method = json_object_get(req->root, "method");
  if (!json_is_string(method))
    return invalid(req, error, id, RPC_INVALID_REQUEST, "invalid request: method must be a string");
  const char *key;
  json_t *v;
  json_object_foreach(req->root, key, v) {
    if (strcmp(key, "jsonrpc") && strcmp(key, "id") && strcmp(key, "method") && strcmp(key, "params"))
      return invalid(req, error, id, RPC_INVALID_REQUEST, "invalid request: unknown member");
  }
  json_t *params = json_object_get(req->root, "params");
  if (params && !json_is_object(params))
    return invalid(req, error, id, RPC_INVALID_PARAMS, "invalid params: params must be an object (by name)");
  if (!params) {
    params = json_object();
    json_object_set_new(req->root, "params", params);
  }
  req->id = id;
  req->method = json_string_value(method);
  req->params = params;
  return 0;
}

void mcsid_request_free(mcsid_request *req)
{
  json_decref(req->root);
  memset(req, 0, sizeof *req);
}

/* Messages quote what they were given (a method name cut at 64 bytes, a
 * target's text): json_text.h makes any of it a JSON string. */
json_t *mcsid_rpc_error(json_t *id, int code, const char *message)
{
  return json_pack("{s:s, s:O, s:{s:i, s:o}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
                   code, "message", mcsid_json_text(message));
}

json_t *mcsid_rpc_result(json_t *id, json_t *result)
{
  return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result", result);
}

json_t *mcsid_rpc_notification(const char *method, json_t *params)
{
  return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

json_t *mcsid_status_object(mcsi_status st, const char *message)
{
  const char *name = mcsi_status_name(st);
  const char *text = message && *message ? message : mcsi_status_message(st);
  return json_pack("{s:I, s:s, s:o}", "Status", (json_int_t)st, "StatusName", name ? name : "ISDSC_UNKNOWN",
                   "StatusMessage", mcsid_json_text(text));
}

char *mcsid_rpc_line(json_t *msg, size_t *len)
{
  char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  if (!s) return NULL;
  size_t n = strlen(s);
  char *line = realloc(s, n + 2);
  if (!line) {
    free(s);
    return NULL;
  }
  line[n] = '\n';
  line[n + 1] = 0;
  *len = n + 1;
  return line;
}
