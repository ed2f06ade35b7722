/* log.h: one line per event on stderr, with a level, quiet by default; lines
 * are written with one write() so workers never interleave within a line. */
#ifndef XFERD_LOG_H
#define XFERD_LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

extern enum log_level log_threshold;

/* Set from the config ("error", "warn", "info", "debug"). Returns 0 or
 * -EINVAL for an unknown name. */
int log_level_set(const char *name);

void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The level test is inline so that a disabled debug line costs one compare. */
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)                                    \
	do {                                             \
		if (log_threshold >= LOG_WARN)           \
			log_write(LOG_WARN, __VA_ARGS__);  \
	} while (0)
#define log_info(...)                                    \
	do {                                             \
		if (log_threshold >= LOG_INFO)           \
			log_write(LOG_INFO, __VA_ARGS__);  \
	} while (0)
#define log_debug(...)                                   \
	do {                                             \
		if (log_threshold >= LOG_DEBUG)          \
			log_write(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
