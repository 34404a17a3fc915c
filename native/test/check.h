// The one assertion macro the native test programs share: counts checks, prints the first 20
// failures (sweeps can fail thousands of times at once), and lets a test run to the end.
#pragma once
#include <cstdio>

static int g_failures = 0, g_checks = 0;
#define CHECK(cond, ...)                               \
  do {                                                 \
    ++g_checks;                                        \
    if (!(cond) && ++g_failures <= 20) {               \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                        \
      std::printf("\n");                               \
    }                                                  \
  } while (0)
