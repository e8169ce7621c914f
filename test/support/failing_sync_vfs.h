// A disk whose fsync fails or hangs on demand, or that fills up, for the
// sqlite backend's tests: an SQLite VFS over the default one ("unix") that
// forwards every call but answers SQLITE_IOERR_FSYNC from xSync of the
// write-ahead log while armed, or sleeps in it first while a stall is set (a
// slow or failing disk). Writes still reach the page cache, as after a real
// fsync error, so the log keeps whatever frames the failed transaction
// wrote. While the log's size is capped, a write that would take the log
// past the cap answers SQLITE_FULL, as the unix VFS does on a full file
// system: the space the file already has stays writable. Registered as the
// default VFS for its lifetime; one at a time. Test code only.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

namespace deviceapi::store::testing {

class FailingSyncVfs {
 public:
  FailingSyncVfs() {
    base_ = sqlite3_vfs_find(nullptr);
    vfs_ = *base_;
    vfs_.zName = "failing-sync";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + base_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &Open;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~FailingSyncVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(base_, 1);
  }
  FailingSyncVfs(const FailingSyncVfs&) = delete;
  FailingSyncVfs& operator=(const FailingSyncVfs&) = delete;

  void FailLogSyncs(bool fail) { fail_.store(fail); }
  int failed_syncs() const { return failed_.load(); }
  // Each later xSync of the log sleeps this long (0: none) before it syncs.
  void StallLogSyncs(std::chrono::milliseconds stall) { stall_ms_.store(stall.count()); }
  // Log syncs that have begun a stall.
  int stalled_syncs() const { return stalled_.load(); }
  // Log writes that end past `bytes` fail from now on (a disk with that
  // much room for the log); a negative value lifts the cap (space is back).
  void CapLog(std::int64_t bytes) { log_cap_.store(bytes); }
  int full_writes() const { return full_.load(); }

 private:
  struct File {
    sqlite3_file base;      // pMethods: this wrapper's
    sqlite3_file* real;     // the base VFS's file, right after this struct
    FailingSyncVfs* owner;
    bool log;               // the -wal file
  };
  static sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    auto* self = static_cast<FailingSyncVfs*>(vfs->pAppData);
    auto* f = reinterpret_cast<File*>(file);
    std::memset(f, 0, sizeof(File));
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    f->owner = self;
    f->log = (flags & SQLITE_OPEN_WAL) != 0;
    const int rc = self->base_->xOpen(self->base_, name, f->real, flags, out_flags);
    // SQLite calls xClose only when pMethods is set, so set it only when
    // the real file is open.
    if (f->real->pMethods) f->base.pMethods = &kMethods;
    return rc;
  }

  static int Sync(sqlite3_file* file, int flags) {
    auto* f = reinterpret_cast<File*>(file);
    if (const auto ms = f->owner->stall_ms_.load(); f->log && ms > 0) {
      ++f->owner->stalled_;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    if (f->log && f->owner->fail_.load()) {
      ++f->owner->failed_;
      return SQLITE_IOERR_FSYNC;
    }
    return f->real->pMethods->xSync(f->real, flags);
  }

  static int Write(sqlite3_file* file, const void* p, int n, sqlite3_int64 offset) {
    auto* f = reinterpret_cast<File*>(file);
    if (const auto cap = f->owner->log_cap_.load(); f->log && cap >= 0 && offset + n > cap) {
      ++f->owner->full_;
      return SQLITE_FULL;
    }
    return f->real->pMethods->xWrite(f->real, p, n, offset);
  }

  static constexpr sqlite3_io_methods kMethods = {
      3,
      [](sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); },
      [](sqlite3_file* f, void* p, int n, sqlite3_int64 o) { return Real(f)->pMethods->xRead(Real(f), p, n, o); },
      &Write,
      [](sqlite3_file* f, sqlite3_int64 n) { return Real(f)->pMethods->xTruncate(Real(f), n); },
      &Sync,
      [](sqlite3_file* f, sqlite3_int64* n) { return Real(f)->pMethods->xFileSize(Real(f), n); },
      [](sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); },
      [](sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); },
      [](sqlite3_file* f, int* r) { return Real(f)->pMethods->xCheckReservedLock(Real(f), r); },
      [](sqlite3_file* f, int op, void* a) { return Real(f)->pMethods->xFileControl(Real(f), op, a); },
      [](sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); },
      [](sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); },
      [](sqlite3_file* f, int i, int sz, int extend, void volatile** p) {
        return Real(f)->pMethods->xShmMap(Real(f), i, sz, extend, p);
      },
      [](sqlite3_file* f, int offset, int n, int flags) { return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags); },
      [](sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); },
      [](sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); },
      [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return Real(f)->pMethods->xFetch(Real(f), o, n, p); },
      [](sqlite3_file* f, sqlite3_int64 o, void* p) { return Real(f)->pMethods->xUnfetch(Real(f), o, p); },
  };

  sqlite3_vfs* base_ = nullptr;
  sqlite3_vfs vfs_{};
  std::atomic<bool> fail_{false};
  std::atomic<int> failed_{0};
  std::atomic<std::int64_t> stall_ms_{0};
  std::atomic<int> stalled_{0};
  std::atomic<std::int64_t> log_cap_{-1};
  std::atomic<int> full_{0};
};

}  // namespace deviceapi::store::testing
