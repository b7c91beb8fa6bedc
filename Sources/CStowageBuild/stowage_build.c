#include "stowage_build.h"

#ifndef STOWAGE_COMMIT
#define STOWAGE_COMMIT "unknown"
#endif

const char *stowage_build_commit(void) { return STOWAGE_COMMIT; }
