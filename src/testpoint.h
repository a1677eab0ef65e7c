/*
 * testpoint: where the tests stop a contmig process to kill it at exactly
 * that instant (the handoff's steps, freeze's).  With CONTMIG_TEST_HOOK=NAME
 * in the environment, test_point(NAME) says so on stderr ("contmig: test
 * point NAME reached") and stops for good; with CONTMIG_TEST_HOOK_UNTIL=FILE
 * too, it goes on once FILE exists (at most 20 s).  Without them it costs a
 * getenv.
 */
#ifndef CONTMIG_TESTPOINT_H
#define CONTMIG_TESTPOINT_H

void test_point(const char *name);

#endif
