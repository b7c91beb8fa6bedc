#ifndef STOWAGE_CARCHIVE_SHIM_H
#define STOWAGE_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
#endif
