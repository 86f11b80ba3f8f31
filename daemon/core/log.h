/*
 * Logging for gmemfsd: one line per event, to stderr, with a level prefix.
 * Every error a client can cause is logged here naming the object and the
 * reason, next to the errno it is given.  Not for: statistics (fuse/stats.c).
 */
#ifndef GM_LOG_H
#define GM_LOG_H

enum gm_log_level { GM_LOG_ERR, GM_LOG_WARN, GM_LOG_INFO, GM_LOG_DEBUG };

extern enum gm_log_level gm_log_level;

int gm_log_parse_level(const char *s, enum gm_log_level *out);
void gm_log(enum gm_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define gm_err(...)	gm_log(GM_LOG_ERR, __VA_ARGS__)
#define gm_warn(...)	gm_log(GM_LOG_WARN, __VA_ARGS__)
#define gm_info(...)	gm_log(GM_LOG_INFO, __VA_ARGS__)
#define gm_dbg(...)	do { if (gm_log_level >= GM_LOG_DEBUG) gm_log(GM_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
