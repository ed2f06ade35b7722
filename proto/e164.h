/* e164.h: E.164 telephone numbers as they appear in the user part of a
 * Refer-To URI ("+14155551234"), and their country calling codes (ITU-T E.164). */
#ifndef XFERD_E164_H
#define XFERD_E164_H

#include "str.h"

/* True if s is '+' followed by 7 to 15 digits, the first not 0. Nothing
 * else is accepted: no visual separators, no escapes. */
bool e164_valid(struct str s);

/* The country calling code of a valid E.164 number (1, 44, 353...), found
 * by the ITU assignment table, or 0 if s is not valid or its code is not
 * assigned. */
unsigned e164_country_code(struct str s);

#endif
