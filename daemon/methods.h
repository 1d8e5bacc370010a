/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods.h: the dispatch table of mcsid's JSON-RPC methods.
 *
 * A method is one row { name, run, params } of the table generated from the
 * description of every operation (api/operations.lua; api/README.md).
 * Adding a method: describe it there, `make generate`, write its run
 * function mcsid_run_<operation> in its family's file. Before
 * run is called the parameters have been checked against the row's schema
 * (unknown names, missing required ones and wrong types are invalid params,
 * -32602), so run reads them with the accessors below without checking
 * types again.
 *
 * run must end the call exactly once with mcsid_call_finish, at once or
 * later from an engine callback (every engine operation is started with its
 * asynchronous form: the loop never blocks). The result is the Status
 * object {"Status","StatusName","StatusMessage"} with the outputs merged in. */
#ifndef MCSID_METHODS_H
#define MCSID_METHODS_H

#include <stdint.h>
#include <jansson.h>
#include "mcsid.h"
#include "rpc.h"
#include "methods_run.h"

typedef enum mcsid_ptype {
  P_STRING = 1,   /* a string */
  P_ID,           /* a 64-bit id: a number, or a string in decimal or 0x-hex */
  P_UINT,         /* a non-negative integer */
  P_BOOL,         /* true / false */
  P_PORTAL,       /* "host", "host:port", "[v6]:port", or {"Address": s, "Port": n} */
  P_PORTALS,      /* an array of P_PORTAL */
  P_POLICY,       /* 1..5 or a policy name ("round-robin") */
  P_ARRAY,        /* an array (the method checks its elements) */
  P_OBJECT,       /* an object (given on as it is) */
} mcsid_ptype;

typedef struct mcsid_param {
  const char *name;
  mcsid_ptype type;
  int required;
  const struct mcsid_param *elements;   /* P_ARRAY of objects: each one's members (NULL: not checked) */
} mcsid_param_spec;

typedef struct mcsid_call mcsid_call;

/* Whether a policy runner may call a method (daemon/policy.c). */
enum { MCSID_POLICY_REFUSED = 0, MCSID_POLICY_ANY, MCSID_POLICY_OWN_SESSION };

typedef struct mcsid_method {
  const char *name;
  void (*run)(mcsid_call *call);
  int policy;                                 /* MCSID_POLICY_*: who may call it besides clients */
  const mcsid_param_spec *params;             /* ends at the first row without a name */
} mcsid_method;

struct mcsid_call {
  mcsid *d;
  mcsid_client *client;        /* referenced until the call ends */
  json_t *id;                  /* NULL: a notification, nothing is sent */
  json_t *params;              /* referenced */
  const mcsid_method *method;
};

/* Every method, one row each, ending with a row whose name is NULL:
 * methods_table.c, generated from api/operations.lua by api/generate.lua
 * (`make generate`). Each row's run function is mcsid_run_<operation>
 * (methods_run.h), written by hand in the family file (methods_session.c,
 * methods_scsi.c, methods_discovery.c, methods_persist.c, methods_events.c,
 * methods_misc.c, methods_exports.c, methods_policy.c, methods_io.c). */
extern const mcsid_method mcsid_methods[];

/* Finds the method, checks the parameters and the client's bounds, runs it
 * (or answers the protocol error). */
void mcsid_dispatch(mcsid *d, mcsid_client *c, const mcsid_request *req);
/* One line a client sent (without its '\n'; a '\r' before it and blank
 * lines are ignored): parsed, then dispatched or answered with the protocol
 * error. screen (NULL: none; clients.h's mcsid_screen_fn of an adopted
 * client) sees each parsed request first: 1 dispatches it, 0 means it
 * answered or took it. Answers go through mcsid_client_send, at once or
 * later: the whole dispatcher is driven by this call and the engine's loop,
 * no socket needed (clients.c calls it for each line; tests/fuzz/fuzz_rpc.c
 * too). */
void mcsid_handle_line(mcsid *d, mcsid_client *c, const char *line, size_t len,
                       int (*screen)(void *arg, mcsid_client *c, const mcsid_request *req), void *screen_arg);
/* Ends the call: sends {"jsonrpc","id","result": Status object + outputs}
 * unless it is a notification or the client is gone. outputs is stolen (may
 * be NULL); message NULL or "": the Status's own message. */
void mcsid_call_finish(mcsid_call *call, mcsi_status st, const char *message, json_t *outputs);
/* After a synchronous engine call that failed: its Status and mcsi_last_message. */
void mcsid_call_fail_now(mcsid_call *call, mcsi_status st);
/* Ends the call with an invalid-params error (-32602), for checks the schema
 * cannot express. */
void mcsid_call_invalid_params(mcsid_call *call, const char *message);
/* The method of that name; NULL if there is none. */
const mcsid_method *mcsid_find_method(const char *name);
/* Every method's name, in table order (GetVersion lists them). */
json_t *mcsid_method_names(void);

/* Parameter accessors (after the schema check). */
json_t *mcsid_param(const mcsid_call *call, const char *name);   /* NULL if absent */
const char *mcsid_param_string(const mcsid_call *call, const char *name);  /* NULL if absent */
uint64_t mcsid_param_id(const mcsid_call *call, const char *name);         /* 0 if absent */
long long mcsid_param_uint(const mcsid_call *call, const char *name, long long dflt);
int mcsid_param_bool(const mcsid_call *call, const char *name, int dflt);
int mcsid_param_policy(const mcsid_call *call, const char *name);          /* 0 if absent */

/* A portal value (P_PORTAL) as "host:port" ("[v6]:port"); port 3260 when
 * none is given. 0, or -1 when it is not a portal. */
int mcsid_portal_text(const json_t *v, char *out, size_t len);
/* "host:port" (as the engine and targets write it) as {"Address","Port"}. */
json_t *mcsid_portal_object(const char *text);
/* A policy value (P_POLICY) as its number, 0 if it is none. */
int mcsid_policy_number(const json_t *v);
/* An id as JSON: a number. */
json_t *mcsid_id_json(mcsi_id id);

#endif
