/* main.c: the xferd command line: options, then the engine.
 * The engine runtime (workers, transports, calls) builds on proto/. */
#include <stdio.h>
#include <string.h>

#ifndef XFERD_VERSION
#define XFERD_VERSION "unknown"
#endif

static void usage(FILE *out)
{
	fprintf(out, "usage: xferd [-c FILE] [--check] [--version] [--help]\n"
		     "SIP call-transfer engine: answers REFER from the endpoints of\n"
		     "inbound calls and reconnects the caller to the transfer target.\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("xferd %s\n", XFERD_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "xferd: unknown option '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	printf("xferd %s: the SIP protocol layer is built; the engine runtime is not "
	       "part of this version yet.\n", XFERD_VERSION);
	return 0;
}
