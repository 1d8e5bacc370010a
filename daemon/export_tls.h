/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export_tls.h: TLS of the daemon's NBD exports over TCP. An export's spec
 * says "Tls": "require" (the default) or "off"; the credentials are the
 * daemon's configuration's files (nbd_tls_cert, nbd_tls_key, nbd_tls_ca,
 * nbd_tls_psk_file: root's, never named by a client), and "off" is taken
 * only when the configuration allows plain TCP (nbd_plain_tcp = yes). */
#ifndef MCSID_EXPORT_TLS_H
#define MCSID_EXPORT_TLS_H

#include <stddef.h>
#include <jansson.h>
#include "mcsi_nbd.h"
#include "mcsid.h"

/* The spec's "Tls" (absent, or a string "require" / "off"): 0, or -1 with msg. */
int mcsid_export_tls_check(const json_t *tls, char *msg, size_t len);
/* Fills o's TLS options for spec (o->tcp already set): 0, or -1 with msg
 * (a TCP export without TLS credentials, or "off" the configuration does
 * not allow). The strings point into d's configuration. */
int mcsid_export_tls_opts(mcsid *d, const json_t *spec, mcsi_nbd_opts *o, char *msg, size_t len);
/* The running export's TLS in its listing: Tls, TlsCredentials, TlsClientCertificates, and
 * TlsSessions / TlsFailed / TlsRefused in its Statistics. */
void mcsid_export_tls_json(json_t *o, const mcsi_nbd_info *in);

#endif
