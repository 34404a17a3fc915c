// The one assertion macro the native test programs share: counts checks, prints failures, and
// lets a test run to the end so one report lists every failure.
#pragma once
#include <cstdio>

static int g_failures = 0, g_checks = 0;
#define CHECK(cond, ...)                               \
  do {                                                 \
    ++g_checks;                                        \
    if (!(cond)) {                                     \
      ++g_failures;                                    \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                        \
      std::printf("\n");                               \
    }                                                  \
  } while (0)
