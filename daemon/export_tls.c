/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export_tls.c: TLS of the daemon's NBD exports over TCP (see export_tls.h). */
#include <stdio.h>
#include <string.h>
#include "export_tls.h"

int mcsid_export_tls_check(const json_t *tls, char *msg, size_t len)
{
  const char *v = json_string_value(tls);
  if (!tls || (v && (!strcmp(v, "require") || !strcmp(v, "off")))) return 0;
  snprintf(msg, len, "Tls must be \"require\" or \"off\"");
  return -1;
}

static const char *or_null(const char *s) { return s[0] ? s : NULL; }

int mcsid_export_tls_opts(mcsid *d, const json_t *spec, mcsi_nbd_opts *o, char *msg, size_t len)
{
  const mcsid_config *c = &d->config;
  const char *mode = json_string_value(json_object_get(spec, "Tls"));
  if (mode && !strcmp(mode, "off")) {
    if (o->tcp && !c->nbd_plain_tcp) {   /* a Unix socket alone has nothing to turn off */
      snprintf(msg, len, "plain TCP (\"Tls\": \"off\") is not allowed by the daemon's configuration (nbd_plain_tcp)");
      return -1;
    }
    o->tls = MCSI_NBD_TLS_OFF;
    return 0;
  }
  o->tls = MCSI_NBD_TLS_REQUIRE;
  o->tls_cert = or_null(c->nbd_tls_cert);
  o->tls_key = or_null(c->nbd_tls_key);
  o->tls_ca = or_null(c->nbd_tls_ca);
  o->tls_psk_file = or_null(c->nbd_tls_psk_file);
  if (o->tcp && !o->tls_cert && !o->tls_psk_file) {
    snprintf(msg, len, "a TCP export needs TLS and the daemon's configuration names no credentials "
             "(nbd_tls_cert and nbd_tls_key, or nbd_tls_psk_file)");
    return -1;
  }
  return 0;
}

void mcsid_export_tls_json(json_t *o, const mcsi_nbd_info *in)
{
  json_t *creds = json_array(), *stats = json_object_get(o, "Statistics");
  if (in->tls_x509) json_array_append_new(creds, json_string("x509"));
  if (in->tls_psk) json_array_append_new(creds, json_string("psk"));
  json_object_set_new(o, "Tls", json_string(in->tls == MCSI_NBD_TLS_OFF ? "off" : "require"));
  json_object_set_new(o, "TlsCredentials", creds);
  json_object_set_new(o, "TlsClientCertificates", json_boolean(in->tls_client_certs));
  if (json_is_object(stats)) {
    json_object_set_new(stats, "TlsSessions", json_integer((json_int_t)in->tls_sessions));
    json_object_set_new(stats, "TlsFailed", json_integer((json_int_t)in->tls_failed));
    json_object_set_new(stats, "TlsRefused", json_integer((json_int_t)in->tls_refused));
  }
}
