/* e4-rs: libe4's <e4/util.h>. Everything it declared (e4c_derive_clientid,
 * e4c_derive_topichash, e4c_derive_control_topic, e4c_hex_decode) is in the
 * generated <e4/e4.h>; this file lets libe4 programs compile unchanged. */
#ifndef E4RS_E4_UTIL_H
#define E4RS_E4_UTIL_H
#include "e4/e4.h"
#endif
