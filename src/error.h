/*
 * Messages to the user.  Only the command layer calls these: library code
 * returns -errno and lets its caller say what failed on what.
 * Every message is one line, "contmig: ...", written in one write(2).
 */
#ifndef CONTMIG_ERROR_H
#define CONTMIG_ERROR_H

#include <stddef.h>

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))
#define MUST_CHECK __attribute__((warn_unused_result))

/* "contmig: MESSAGE" */
void error_msg(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* "contmig: MESSAGE: strerror(err)"; err is a positive errno value. */
void errno_msg(int err, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* A reason into why (len bytes), for the caller to say; returns err, so
 * that "return say_why(-EPERM, why, len, ...)" fails and explains at once. */
int say_why(int err, char *why, size_t len, const char *fmt, ...) ATTR_PRINTF(4, 5);
/* error_msg, then exit with status. */
void error_msg_and_die(int status, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_NORETURN;
/* error_msg, then "Try 'contmig [CMD] --help'.", exit EXIT_USAGE. */
void usage_error(const char *cmd, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_NORETURN;

#endif
