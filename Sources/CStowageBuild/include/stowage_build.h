#ifndef STOWAGE_BUILD_H
#define STOWAGE_BUILD_H
/// The git commit the binary was built from, or "unknown" (set by Package.swift).
const char *stowage_build_commit(void);
#endif
