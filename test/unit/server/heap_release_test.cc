// ReleaseFreeHeap really hands free pages back on glibc (a build where the
// glibc check went wrong compiled it to "return false" without a word).
#include "server/heap_release.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace deviceapi::server {
namespace {

TEST(HeapRelease, ReturnsFreePagesBetweenLiveBlocks) {
#if !defined(__GLIBC__) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "glibc's own allocator only";
#else
  // Every other 16 KiB block freed: holes of whole pages that malloc keeps,
  // as the live blocks on both sides stop it from shrinking the heap.
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 512; ++i) {
    blocks.emplace_back(new char[16 << 10]);
    blocks.back()[0] = 1;  // touch it
  }
  for (std::size_t i = 0; i < blocks.size(); i += 2) blocks[i].reset();
  EXPECT_TRUE(ReleaseFreeHeap());
#endif
}

}  // namespace
}  // namespace deviceapi::server
