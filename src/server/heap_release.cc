#include "server/heap_release.h"

#include <cstdlib>  // defines __GLIBC__ (through <features.h>) where it applies

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace deviceapi::server {

bool ReleaseFreeHeap() {
#if defined(__GLIBC__)
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

}  // namespace deviceapi::server
