/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_params.c: operational text negotiation (RFC 7143 13): what we
 * offer on leading, non-leading and discovery logins; the target's answers
 * checked against each key's rule; keys the target offers first answered. */
#include <string.h>
#include "params.h"
#include "testlib.h"

static mcsi_params ours, neg;
static mcsi_text answers;

static void setup(void)
{
  mcsi_login_opts o;
  memset(&o, 0, sizeof o);
  mcsi_params_from_opts(&ours, &o);
  mcsi_params_rfc_defaults(&neg);
  mcsi_text_free(&answers);
  mcsi_text_init(&answers);
}

static int apply(const char *k, const char *v, int offered)
{
  const char *err = NULL;
  return mcsi_params_apply(&neg, &ours, k, v, offered, &answers, &err);
}

static void offers(void)
{
  mcsi_text t;
  mcsi_text_init(&t);
  setup();
  T_EQ_INT(mcsi_params_offer(&ours, 1, 0, &t), 0, "leading offer built");
  T_EQ_INT(t.count, 14, "a leading login offers all 14 operational keys");
  T_EQ_STR(mcsi_text_get(&t, "MaxConnections"), "4", "MaxConnections=4 by default");
  T_EQ_STR(mcsi_text_get(&t, "InitialR2T"), "No", "InitialR2T=No");
  T_EQ_STR(mcsi_text_get(&t, "ImmediateData"), "Yes", "ImmediateData=Yes");
  T_EQ_STR(mcsi_text_get(&t, "MaxRecvDataSegmentLength"), "262144", "MaxRecvDataSegmentLength=262144");
  T_EQ_STR(mcsi_text_get(&t, "HeaderDigest"), "None", "HeaderDigest=None");
  T_EQ_STR(mcsi_text_get(&t, "ErrorRecoveryLevel"), "0", "ErrorRecoveryLevel=0");
  mcsi_text_free(&t);
  mcsi_text_init(&t);
  mcsi_params_offer(&ours, 0, 0, &t);
  T_OK(t.count == 3 && mcsi_text_get(&t, "HeaderDigest") && mcsi_text_get(&t, "DataDigest") &&
       mcsi_text_get(&t, "MaxRecvDataSegmentLength"), "a non-leading login offers only the 3 connection keys");
  mcsi_text_free(&t);
  mcsi_text_init(&t);
  mcsi_params_offer(&ours, 1, 1, &t);
  T_OK(!mcsi_text_get(&t, "MaxConnections") && !mcsi_text_get(&t, "InitialR2T") && mcsi_text_get(&t, "ErrorRecoveryLevel"),
       "a discovery login leaves out the keys irrelevant there");
  mcsi_text_free(&t);
  T_OK(mcsi_params_is_session_key("MaxBurstLength") && !mcsi_params_is_session_key("DataDigest"), "key scopes");
}

static void answers_to_our_offers(void)
{
  setup();
  T_EQ_INT(apply("MaxBurstLength", "262144", 1), 0, "MaxBurstLength: a smaller answer is fine");
  T_EQ_INT(neg.max_burst, 262144, "... and taken");
  T_EQ_INT(apply("MaxBurstLength", "2097152", 1), -1, "MaxBurstLength: a larger answer breaks min()");
  T_EQ_INT(apply("MaxConnections", "1", 1), 0, "MaxConnections answered 1");
  T_EQ_INT(neg.max_connections, 1, "... taken");
  T_EQ_INT(apply("InitialR2T", "Yes", 1), 0, "InitialR2T: we said No, Yes wins (OR)");
  T_EQ_INT(neg.initial_r2t, 1, "... taken");
  T_EQ_INT(apply("ImmediateData", "No", 1), 0, "ImmediateData: No wins (AND)");
  T_EQ_INT(neg.immediate_data, 0, "... taken");
  ours.immediate_data = 0;
  T_EQ_INT(apply("ImmediateData", "Yes", 1), -1, "ImmediateData: Yes after our No breaks AND");
  ours.initial_r2t = 1;
  T_EQ_INT(apply("InitialR2T", "No", 1), -1, "InitialR2T: No after our Yes breaks OR");
  ours.time2wait = 2;
  T_EQ_INT(apply("DefaultTime2Wait", "0", 1), -1, "DefaultTime2Wait below our offer of 2 breaks max()");
  T_EQ_INT(apply("MaxRecvDataSegmentLength", "8192", 1), 0, "the target declares its MaxRecvDataSegmentLength");
  T_EQ_INT(neg.max_send_dsl, 8192, "... which limits what we send");
  T_EQ_INT(apply("MaxRecvDataSegmentLength", "100", 1), -1, "a declared length below 512 is refused");
  T_EQ_INT(apply("MaxBurstLength", "lots", 1), -1, "a number that is not one");
  T_EQ_INT(apply("ErrorRecoveryLevel", "7", 1), -1, "ErrorRecoveryLevel out of range");
  T_EQ_INT(apply("MaxOutstandingR2T", "NotUnderstood", 1), 0, "NotUnderstood leaves the default");
  T_EQ_INT(apply("DataDigest", "Reject", 1), 0, "Reject of an optional digest keeps None");
  ours.header_digest = 1;
  T_EQ_INT(apply("HeaderDigest", "Reject", 1), -1, "Reject of a digest we require fails");
  T_EQ_INT(apply("HeaderDigest", "None", 1), -1, "None after we asked for CRC32C only fails");
  T_EQ_INT(apply("HeaderDigest", "CRC32C", 1), 0, "CRC32C accepted");
  T_EQ_INT(neg.header_digest, 1, "... taken");
  T_EQ_INT(answers.count, 0, "nothing to answer so far");
}

static void target_offers(void)
{
  setup();
  T_EQ_INT(apply("MaxOutstandingR2T", "8", 0), 0, "the target offers MaxOutstandingR2T=8");
  T_EQ_STR(mcsi_text_get(&answers, "MaxOutstandingR2T"), "1", "we answer min(1, 8) = 1");
  T_EQ_INT(apply("DataDigest", "CRC32C,None", 0), 0, "the target offers DataDigest=CRC32C,None");
  T_EQ_STR(mcsi_text_get(&answers, "DataDigest"), "None", "we pick None, the one we want");
  T_EQ_INT(apply("HeaderDigest", "CRC32C", 0), 0, "the target offers only CRC32C");
  T_EQ_STR(mcsi_text_get(&answers, "HeaderDigest"), "Reject", "we answer Reject");
  T_EQ_INT(apply("X-com.example.key", "1", 0), 0, "a vendor key");
  T_EQ_STR(mcsi_text_get(&answers, "X-com.example.key"), "NotUnderstood", "answered NotUnderstood");
  T_EQ_INT(apply("FirstBurstLength", "many", 0), 0, "a malformed offer");
  T_EQ_STR(mcsi_text_get(&answers, "FirstBurstLength"), "Reject", "answered Reject");
  size_t before = answers.count;
  T_EQ_INT(apply("TargetAlias", "disk one", 0), 0, "TargetAlias is declarative");
  T_EQ_INT(apply("TargetPortalGroupTag", "1", 0), 0, "so is TargetPortalGroupTag");
  T_EQ_INT(answers.count, before, "neither needs an answer");
  T_EQ_INT(apply("MaxRecvDataSegmentLength", "65536", 0), 0, "a declared MaxRecvDataSegmentLength");
  T_EQ_INT(neg.max_send_dsl, 65536, "... limits what we send");
}

int main(void)
{
  mcsi_text_init(&answers);
  offers();
  answers_to_our_offers();
  target_offers();
  mcsi_text_free(&answers);
  return t_done();
}
