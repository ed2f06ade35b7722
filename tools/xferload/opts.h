/* opts.h: xferload's command line: every option, its check, --help.
 * Bad options are refused with one line naming the option and why. */
#ifndef XFERLOAD_OPTS_H
#define XFERLOAD_OPTS_H

#include <stdio.h>

#include "xl.h"

/* Fill o from argv. Returns 0 to run, 1 when --help was printed (exit 0),
 * 2 after printing what is wrong to stderr (exit 2). */
int xl_opts_parse(int argc, char **argv, struct xl_opts *o);

void xl_usage(FILE *f);

/* "success", "busy", "noanswer", "earlybye", "badrefer". */
const char *xl_scenario_name(enum xl_scenario s);

/* Parse "IPv4:PORT" or "[IPv6]:PORT" (IP literals only). Returns 0 or -EINVAL. */
int xl_addr_parse(const char *text, struct xl_addr *a);

/* Write a's port (after bind chose it) into its sockaddr and text forms. */
void xl_addr_set_port(struct xl_addr *a, uint16_t port);

#endif
