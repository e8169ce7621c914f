// SqliteBackend: opening, load, batched commits and history compaction
// (the file's layout is in sqlite_layout.cc). See sqlite_backend.h for the
// contract.
#include "store/sqlite_backend.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "store/sqlite_layout.h"

namespace deviceapi::store {
namespace {

// meta rows "gap:<after>" = before: the store's revision gaps (backend.h).
constexpr const char* kGapKeyPrefix = "gap:";

constexpr const char* kRecovery =
    ": move the file aside and restart; providers register their GPUs again (docs/operations.md)";

Error Fail(ErrorCode code, std::string message) { return MakeError(code, std::move(message)); }

// One prepared statement, reset after each use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }
  int Prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr); }
  sqlite3_stmt* get() const { return stmt_; }
  void Int(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Text(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  void Blob(int i, const std::string& v) { sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  void Literal(int i, const char* v) { sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC); }
  void Null(int i) { sqlite3_bind_null(stmt_, i); }
  // Runs a statement that returns no rows.
  int Run() {
    int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// A column's bytes, valid until the statement steps again.
std::string_view ColumnBytes(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string_view();
}

std::string ColumnText(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

int TypeCode(EventType t) { return static_cast<int>(t); }

}  // namespace

class SqliteBackend::Impl {
 public:
  // Revision gaps to keep, and the start revision (KeepRestartGaps).
  struct PendingGaps {
    std::vector<RevisionGap> gaps;
    Revision start = 0;
  };

  explicit Impl(SqliteOptions o)
      : options(std::move(o)),
        slots(options.history_max_events + std::max<std::uint64_t>(options.compact_events, 1) + kMaxCommitEvents),
        occupant(slots, 0) {}
  ~Impl() {
    statements_ready = false;
    begin_.reset();
    commit_.reset();
    rollback_.reset();
    insert_event_.reset();
    dropped_events_.reset();
    carry_object_.reset();
    delete_object_.reset();
    set_meta_.reset();
    drop_events_.reset();
    probe_fill_.reset();
    probe_clear_.reset();
    if (db) sqlite3_close(db);
    if (lock_fd >= 0) ::close(lock_fd);  // after SQLite closed: its POSIX locks die with any close
  }

  // The connection's message while it is still about `rc`; once a later
  // call replaced it (a ROLLBACK after the failure), SQLite's text for rc.
  std::string Describe(int rc) const {
    if (db && sqlite3_extended_errcode(db) == rc) return sqlite3_errmsg(db);
    return sqlite3_errstr(rc);
  }

  bool IsCorruption(int rc) const {
    int primary = rc & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
  }

  // A failure while opening or loading, as the one line the operator reads.
  Error OpenError(int rc, const std::string& doing) const {
    if (IsCorruption(rc)) {
      return Fail(ErrorCode::kInternal,
                  options.path + " is corrupted (" + Describe(rc) + " while " + doing + ")" + kRecovery);
    }
    return Fail(ErrorCode::kInternal, "cannot open " + options.path + ": " + Describe(rc) + " while " + doing);
  }

  int Exec(const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

  Result<bool> Open() {
    // The lock first: a second server must not even create the WAL.
    const std::string dir = options.path.substr(0, options.path.find_last_of('/'));
    if (!dir.empty() && dir != options.path) ::mkdir(dir.c_str(), 0700);  // EEXIST is fine
    lock_fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
      return Fail(ErrorCode::kInternal, "cannot open " + options.path + ": " + std::strerror(errno));
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      return Fail(ErrorCode::kInternal, options.path + " is in use by another device-api-server (locked); " +
                                            "only one server may open a database");
    }
    int rc = sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return OpenError(rc, "opening");
    sqlite3_extended_result_codes(db, 1);
    // A reader such as `sqlite3 .backup` may hold the WAL briefly.
    sqlite3_busy_timeout(db, 5000);
    int version = 0;
    {
      Stmt q;
      if ((rc = q.Prepare(db, "PRAGMA user_version")) != SQLITE_OK) return OpenError(rc, "reading the schema");
      if ((rc = sqlite3_step(q.get())) != SQLITE_ROW) return OpenError(rc, "reading the schema");
      version = sqlite3_column_int(q.get(), 0);
    }
    if (version > kSchemaVersion) {
      return Fail(ErrorCode::kInternal, options.path + " has schema version " + std::to_string(version) +
                                            ", newer than this server's " + std::to_string(kSchemaVersion) +
                                            ": run a newer device-api-server, or move the file aside");
    }
    if ((rc = Exec("PRAGMA journal_mode=WAL")) != SQLITE_OK) return OpenError(rc, "enabling WAL");
    // secure_delete=FAST: Debian builds SQLite to zero every deleted byte,
    // which makes each compaction write the pages it frees once more. GPU
    // health is no secret; FAST zeroes only what is written anyway: 8 %
    // fewer bytes written per update under load (docs/benchmarks.md).
    // cache_size=-512 (KiB, against 2 MiB by default): the store keeps every
    // object in memory and reads the file only at start and in compaction,
    // both one pass; a commit touches a handful of pages. The page cache
    // was most of what the sqlite backend held beyond the memory one.
    std::string pragmas = std::string("PRAGMA synchronous=") + (options.full_sync ? "FULL" : "NORMAL") +
                          ";PRAGMA journal_size_limit=8388608;PRAGMA temp_store=MEMORY;PRAGMA secure_delete=FAST"
                          ";PRAGMA cache_size=-512";
    if ((rc = Exec(pragmas.c_str())) != SQLITE_OK) return OpenError(rc, "setting pragmas");
    if (auto migrated = Layout(sqlite_layout::Migrate(db, version, kSchemaVersion)); !migrated.ok()) {
      return migrated;
    }
    if (auto laid_out = Layout(sqlite_layout::LayOutSlots(db, slots, options.history_max_events)); !laid_out.ok()) {
      return laid_out;
    }
    return Prepare();
  }

  // Runs a layout step, turning its failure into the operator's line.
  Result<bool> Layout(sqlite_layout::Failure failure) const {
    if (failure.ok()) return true;
    return OpenError(failure.rc, failure.doing);
  }

  // The slots of revisions (after, upto]: at most two ranges, as they wrap.
  std::vector<std::pair<std::int64_t, std::int64_t>> SlotRanges(Revision after, Revision upto) const {
    if (upto <= after) return {};
    const auto n = static_cast<std::int64_t>(slots);
    if (upto - after >= slots) return {{0, n - 1}};
    const auto lo = static_cast<std::int64_t>((after + 1) % slots), hi = static_cast<std::int64_t>(upto % slots);
    if (lo <= hi) return {{lo, hi}};
    return {{lo, n - 1}, {0, hi}};
  }

  std::int64_t SlotOf(Revision revision) const { return static_cast<std::int64_t>(revision % slots); }

  Result<bool> Prepare() {
    struct {
      Stmt* stmt;
      const char* sql;
    } all[] = {
        {&*begin_, "BEGIN IMMEDIATE"},
        {&*commit_, "COMMIT"},
        {&*rollback_, "ROLLBACK"},
        // A slot's previous event was carried into `objects` before (Commit).
        {&*insert_event_,
         "INSERT INTO events(slot, revision, type, data, prev_revision, namespace, name) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(slot) DO UPDATE SET revision = excluded.revision, "
         "type = excluded.type, data = excluded.data, prev_revision = excluded.prev_revision, previous = NULL, "
         "namespace = excluded.namespace, name = excluded.name"},
        // The events compaction drops (a range of slots), for carrying them
        // into `objects`. Events from before schema 3 name no object:
        // `objects` already held their objects' later state when the schema
        // was migrated.
        {&*dropped_events_,
         "SELECT type, namespace, name, revision FROM events "
         "WHERE slot >= ?1 AND slot <= ?2 AND revision > ?3 AND revision <= ?4 AND namespace IS NOT NULL"},
        {&*carry_object_,
         "INSERT INTO objects(namespace, name, revision, data) "
         "SELECT namespace, name, revision, data FROM events WHERE slot = ?1 AND revision = ?2 "
         "ON CONFLICT(namespace, name) DO UPDATE SET revision = excluded.revision, data = excluded.data"},
        {&*delete_object_, "DELETE FROM objects WHERE namespace = ?1 AND name = ?2"},
        {&*set_meta_, "UPDATE meta SET value = max(value, ?2) WHERE key = ?1"},
        {&*drop_events_, "DELETE FROM events WHERE slot >= ?1 AND slot <= ?2 AND revision <= ?3"},
        {&*probe_fill_, "INSERT OR REPLACE INTO probe(id, data) VALUES(1, zeroblob(?1))"},
        {&*probe_clear_, "DELETE FROM probe"},
    };
    for (auto& s : all) {
      if (int rc = s.stmt->Prepare(db, s.sql); rc != SQLITE_OK) return OpenError(rc, "preparing statements");
    }
    statements_ready = true;
    return true;
  }

  // One pass over each table. Every version is decoded once: an event's
  // previous version is another retained event or a row of `objects`, and
  // sharing it keeps the history's byte accounting what it was (S14).
  // The current objects are `objects` with the retained events replayed
  // over them in order.
  Result<Snapshot> Load() {
    std::lock_guard<std::mutex> lock(mu);
    Snapshot snapshot;
    int rc = SQLITE_OK;
    // Runs `sql` with its ?1 and ?2 bound to `first` and `second`.
    auto step_all = [&](const char* sql, auto&& row, std::int64_t first = 0, std::int64_t second = 0) -> Result<bool> {
      Stmt q;
      if ((rc = q.Prepare(db, sql)) != SQLITE_OK) return OpenError(rc, "loading");
      if (sqlite3_bind_parameter_count(q.get()) > 0) {
        q.Int(1, first);
        q.Int(2, second);
      }
      while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
        if (auto ok = row(q.get()); !ok.ok()) return ok;
      }
      if (rc != SQLITE_DONE) return OpenError(rc, "loading");
      return true;
    };
    auto decode = [&](sqlite3_stmt* s, int column, const char* what) -> Result<ObjectPtr> {
      auto object = options.codec->Decode(ColumnBytes(s, column));
      if (!object.ok()) {
        return Fail(ErrorCode::kInternal, options.path + " is corrupted (" + what + ": " +
                                              object.error().message + ")" + kRecovery);
      }
      return object;
    };
    Revision meta_revision = 0;
    auto meta = step_all("SELECT key, value FROM meta", [&](sqlite3_stmt* s) -> Result<bool> {
      const auto* key = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      auto value = static_cast<Revision>(sqlite3_column_int64(s, 1));
      if (key && std::strcmp(key, "revision") == 0) meta_revision = value;
      if (key && std::strcmp(key, "history_start") == 0) snapshot.history_start = value;
      if (key && std::strncmp(key, kGapKeyPrefix, std::strlen(kGapKeyPrefix)) == 0) {
        const auto after = static_cast<Revision>(std::strtoull(key + std::strlen(kGapKeyPrefix), nullptr, 10));
        if (value <= after) {
          return Fail(ErrorCode::kInternal, options.path + " is corrupted (a revision gap ends before it starts)" +
                                                kRecovery);
        }
        snapshot.gaps.push_back({after, value});
      }
      return true;
    });
    if (!meta.ok()) return meta.error();
    std::sort(snapshot.gaps.begin(), snapshot.gaps.end(),
              [](const RevisionGap& a, const RevisionGap& b) { return a.after < b.after; });
    std::unordered_map<Revision, ObjectPtr> versions;
    std::vector<Revision> previous_of;  // per event: its previous version's revision (0: none or resolved)
    // The retained events in revision order: the slots from the one after
    // the history's start to the end, then from 0 (S25).
    auto event_row = [&](sqlite3_stmt* s) -> Result<bool> {
      Event event;
      event.revision = static_cast<Revision>(sqlite3_column_int64(s, 0));
      if (!snapshot.history.empty() && event.revision <= snapshot.history.back().revision) {
        return Fail(ErrorCode::kInternal, options.path + " is corrupted (events out of order)" + kRecovery);
      }
      int type = sqlite3_column_int(s, 1);
      if (type < TypeCode(EventType::kAdded) || type > TypeCode(EventType::kDeleted)) {
        return Fail(ErrorCode::kInternal, options.path + " is corrupted (an event of unknown type)" + kRecovery);
      }
      event.type = static_cast<EventType>(type);
      auto object = decode(s, 2, "an event");
      if (!object.ok()) return object.error();
      event.object = *object;
      if (event.object->revision() != event.revision) {
        return Fail(ErrorCode::kInternal,
                    options.path + " is corrupted (an event's object is of another revision)" + kRecovery);
      }
      auto prev = static_cast<Revision>(sqlite3_column_int64(s, 3));
      if (prev != 0) {
        if (auto it = versions.find(prev); it != versions.end()) {
          event.previous = it->second;
          prev = 0;
        } else if (sqlite3_column_type(s, 4) == SQLITE_BLOB) {
          // Carried by a server of schema 2.
          auto previous = decode(s, 4, "an event's previous version");
          if (!previous.ok()) return previous.error();
          event.previous = *previous;
          prev = 0;
        }
      }
      if (event.type != EventType::kDeleted) versions[event.revision] = event.object;
      occupant[SlotOf(event.revision)] = event.revision;
      previous_of.push_back(prev);
      snapshot.history.push_back(std::move(event));
      return true;
    };
    const std::int64_t first_slot = SlotOf(snapshot.history_start + 1);
    const auto start = static_cast<std::int64_t>(snapshot.history_start);
    for (const char* sql : {"SELECT revision, type, data, prev_revision, previous FROM events "
                            "WHERE slot >= ?1 AND revision > ?2 ORDER BY slot",
                            "SELECT revision, type, data, prev_revision, previous FROM events "
                            "WHERE slot < ?1 AND revision > ?2 ORDER BY slot"}) {
      auto events = step_all(sql, event_row, first_slot, start);
      if (!events.ok()) return events.error();
    }
    std::map<ObjectKey, ObjectPtr> current;
    Revision highest = meta_revision;
    auto objects = step_all("SELECT revision, data FROM objects", [&](sqlite3_stmt* s) -> Result<bool> {
      auto revision = static_cast<Revision>(sqlite3_column_int64(s, 0));
      ObjectPtr object;
      if (auto it = versions.find(revision); it != versions.end()) {
        object = it->second;  // a file of schema 2 kept the current objects here
      } else {
        auto decoded = decode(s, 1, "an object");
        if (!decoded.ok()) return decoded.error();
        object = *decoded;
        versions.emplace(revision, object);
      }
      highest = std::max(highest, revision);
      if (object->revision() != revision) {
        return Fail(ErrorCode::kInternal,
                    options.path + " is corrupted (an object is of another revision than its row)" + kRecovery);
      }
      // The primary key makes a second row of one object impossible unless its index is damaged,
      // and then the older row could win: refuse instead of serving a rolled-back version.
      if (!current.emplace(object->key(), std::move(object)).second) {
        return Fail(ErrorCode::kInternal, options.path + " is corrupted (an object stored twice)" + kRecovery);
      }
      return true;
    });
    if (!objects.ok()) return objects.error();
    for (std::size_t i = 0; i < snapshot.history.size(); ++i) {
      Event& event = snapshot.history[i];
      if (previous_of[i] != 0) {
        auto it = versions.find(previous_of[i]);
        if (it == versions.end()) {
          return Fail(ErrorCode::kInternal,
                      options.path + " is corrupted (an event's previous version is missing)" + kRecovery);
        }
        event.previous = it->second;
      }
      if (event.type == EventType::kDeleted) {
        current.erase(event.object->key());
      } else {
        current[event.object->key()] = event.object;
      }
      highest = std::max(highest, event.revision);
    }
    snapshot.revision = highest;
    snapshot.objects.reserve(current.size());
    for (auto& [key, object] : current) snapshot.objects.push_back(std::move(object));
    stored_history_start = snapshot.history_start;
    return snapshot;
  }

  // One transaction; called with mu held. Returns an SQLite code and leaves
  // no transaction open. A commit writes its events into their slots and
  // nothing else; every kCompactEvents dropped events (or kCompactBytes
  // written) one commit first carries the dropped ones into `objects`.
  // compact_now: carries them now, whatever those bounds (Probe).
  int CommitLocked(const std::vector<Event>& events, Revision history_start, bool* compacted,
                   bool compact_now = false) {
    if (events.size() > kMaxCommitEvents) return SQLITE_RANGE;  // the store never sends more
    batch_bytes = 0;
    encoded.clear();
    for (const Event& e : events) {
      encoded.push_back(options.codec->Encode(*e.object));
      batch_bytes += encoded.back().size();
    }
    const Revision newest = events.empty() ? history_start : events.back().revision;
    Revision compact_to = history_start;
    bool compact = history_start > stored_history_start &&
                   (compact_now || history_start - stored_history_start >= options.compact_events ||
                    uncompacted_bytes + batch_bytes >= options.compact_bytes);
    // The events whose slots this batch reuses must be in `objects` first.
    // The slot count leaves a run and a batch beyond the store's history,
    // so this adds nothing unless the store holds more than
    // history_max_events.
    for (const Event& e : events) {
      if (const Revision reused = occupant[SlotOf(e.revision)]; reused > stored_history_start) {
        compact = true;
        compact_to = std::max(compact_to, reused);
      }
    }
    batch_compacts = compact;
    int rc = begin_->Run();
    if (rc != SQLITE_OK) return rc;
    // A full disk or an I/O error has made SQLite roll back already; a
    // ROLLBACK then would only replace the failure's message with its own.
    auto fail = [&](int code) {
      if (!sqlite3_get_autocommit(db)) rollback_->Run();
      return code;
    };
    // Gaps not yet kept go first: no revision above a gap may be on disk
    // without it.
    if (pending_gaps && (rc = WriteGaps(*pending_gaps)) != SQLITE_OK) return fail(rc);
    if (compact) {
      if ((rc = Compact(compact_to, newest)) != SQLITE_OK) return fail(rc);
      // The highest revision: the events that remain may not show it.
      if ((rc = SetMeta("revision", std::max(newest, compact_to))) != SQLITE_OK) return fail(rc);
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      const ObjectKey& key = e.object->key();
      insert_event_->Int(1, SlotOf(e.revision));
      insert_event_->Int(2, static_cast<std::int64_t>(e.revision));
      insert_event_->Int(3, TypeCode(e.type));
      insert_event_->Blob(4, encoded[i]);
      insert_event_->Int(5, static_cast<std::int64_t>(e.previous ? e.previous->revision() : 0));
      insert_event_->Text(6, key.namespace_name);
      insert_event_->Text(7, key.name);
      if ((rc = insert_event_->Run()) != SQLITE_OK) return fail(rc);
    }
    // A failed COMMIT may leave the transaction open (SQLITE_BUSY, I/O).
    if ((rc = commit_->Run()) != SQLITE_OK) return fail(rc);
    pending_gaps.reset();
    for (const Event& e : events) occupant[SlotOf(e.revision)] = e.revision;
    if (compact) {
      stored_history_start = compact_to;
      uncompacted_bytes = batch_bytes;
      *compacted = true;
    } else {
      uncompacted_bytes += batch_bytes;
    }
    return SQLITE_OK;
  }

  // Inside the transaction: each object's last event in (stored start,
  // history_start] becomes its row in `objects` (or removes it). Their
  // slots are rewritten by later commits while the count bound is what
  // limits the history; while its byte bound keeps it shorter (large
  // objects) they are freed now, so that the file follows the history
  // rather than the slot count (S27).
  int Compact(Revision history_start, Revision newest) {
    struct Last {
      Revision revision = 0;
      bool deleted = false;
    };
    std::map<ObjectKey, Last> last;
    const auto ranges = SlotRanges(stored_history_start, history_start);
    sqlite3_stmt* q = dropped_events_->get();
    int rc = SQLITE_DONE;
    for (const auto& [lo, hi] : ranges) {
      dropped_events_->Int(1, lo);
      dropped_events_->Int(2, hi);
      dropped_events_->Int(3, static_cast<std::int64_t>(stored_history_start));
      dropped_events_->Int(4, static_cast<std::int64_t>(history_start));
      while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        // Slot order is not revision order where the ranges wrap.
        const auto revision = static_cast<Revision>(sqlite3_column_int64(q, 3));
        Last& l = last[ObjectKey{ColumnText(q, 1), ColumnText(q, 2)}];
        if (revision > l.revision) l = {revision, sqlite3_column_int(q, 0) == TypeCode(EventType::kDeleted)};
      }
      sqlite3_reset(q);
      if (rc != SQLITE_DONE) return rc;
    }
    for (const auto& [key, event] : last) {
      if (event.deleted) {
        delete_object_->Text(1, key.namespace_name);
        delete_object_->Text(2, key.name);
        rc = delete_object_->Run();
      } else {
        carry_object_->Int(1, SlotOf(event.revision));
        carry_object_->Int(2, static_cast<std::int64_t>(event.revision));
        rc = carry_object_->Run();
      }
      if (rc != SQLITE_OK) return rc;
    }
    if (newest - std::min(newest, history_start) < options.history_max_events) {
      for (const auto& [lo, hi] : ranges) {
        drop_events_->Int(1, lo);
        drop_events_->Int(2, hi);
        drop_events_->Int(3, static_cast<std::int64_t>(history_start));
        if ((rc = drop_events_->Run()) != SQLITE_OK) return rc;
      }
    }
    // A gap that ends at or below the history's start holds only revisions
    // that are too old anyway.
    const std::string prune = std::string("DELETE FROM meta WHERE key GLOB '") + kGapKeyPrefix + "*' AND value <= " +
                              std::to_string(history_start);
    if ((rc = Exec(prune.c_str())) != SQLITE_OK) return rc;
    return SetMeta("history_start", history_start);
  }

  // Inside a transaction: the gaps to keep in place of the stored ones, and
  // their newest end as a revision issued (Load starts above it).
  int WriteGaps(const PendingGaps& p) {
    std::string sql = std::string("DELETE FROM meta WHERE key GLOB '") + kGapKeyPrefix + "*';";
    for (const RevisionGap& g : p.gaps) {
      sql += std::string("INSERT INTO meta(key, value) VALUES('") + kGapKeyPrefix + std::to_string(g.after) + "', " +
             std::to_string(g.before) + ");";
    }
    sql += "UPDATE meta SET value = max(value, " + std::to_string(p.start) + ") WHERE key = 'revision';";
    return Exec(sql.c_str());
  }

  // Keeps `gaps` now, in a transaction of its own; when that fails (a
  // storage fault at start), the next commit writes them first.
  void KeepRestartGaps(const std::vector<RevisionGap>& gaps, Revision start) {
    std::lock_guard<std::mutex> lock(mu);
    pending_gaps = PendingGaps{gaps, start};
    if (!statements_ready) return;
    int rc = begin_->Run();
    if (rc == SQLITE_OK) rc = WriteGaps(*pending_gaps);
    if (rc == SQLITE_OK) rc = commit_->Run();
    if (rc == SQLITE_OK) {
      pending_gaps.reset();
    } else if (!sqlite3_get_autocommit(db)) {
      rollback_->Run();
    }
  }

  // Raises a meta value: neither the highest revision nor the history's
  // start goes down, also where a compaction alone (Probe) has no event
  // above the start it compacts to.
  int SetMeta(const char* key, Revision value) {
    set_meta_->Literal(1, key);
    set_meta_->Int(2, static_cast<std::int64_t>(value));
    return set_meta_->Run();
  }

  Result<bool> Commit(const std::vector<Event>& events, Revision history_start) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu);
    bool compacted = false;
    const int rc = statements_ready ? CommitLocked(events, history_start, &compacted) : SQLITE_MISUSE;
    if (rc != SQLITE_OK) {
      const std::string why = "cannot commit to " + options.path + ": " + Describe(rc);
      failed_bytes = batch_bytes;
      failed_compaction_start = batch_compacts ? history_start : 0;
      if (statements_ready) SealLog();
      SetFault(why);
      return Fail(ErrorCode::kUnavailable, why);
    }
    commits.fetch_add(1, std::memory_order_relaxed);
    if (compacted) compactions.fetch_add(1, std::memory_order_relaxed);
    SetFault("");  // under mu still: commits set the fault in their order
    lock.unlock();
    if (options.on_commit) {
      options.on_commit(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return true;
  }

  // One statement in a transaction of its own; called with mu held.
  int RunAlone(Stmt& stmt) {
    int rc = begin_->Run();
    if (rc == SQLITE_OK) rc = stmt.Run();
    if (rc == SQLITE_OK) rc = commit_->Run();
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db)) rollback_->Run();
    return rc;
  }

  // A COMMIT can fail after its log frames were written whole: an fsync
  // that failed (--storage-sync=full) or a log index that could not grow.
  // SQLite then takes the log to end before them, and the next transaction
  // writes over them; but a crash before that would let the recovery at the
  // next start replay a write the client was told failed (S24, S26). So
  // before the failure is answered, a one-row transaction writes its frame
  // over the first of them, which ends the chain of checksums that recovery
  // follows. Writing where the log already has space needs no new blocks,
  // so this works where the sync or the growth did not; when it commits it
  // changes only `probe`. Called with mu held.
  void SealLog() {
    probe_fill_->Int(1, 0);
    if (RunAlone(*probe_fill_) == SQLITE_OK) RunAlone(*probe_clear_);
  }

  // Commits what the write that failed would have, without its events: a
  // tiny write could fit into space the log already holds (the failed
  // transaction grew it) while real writes still fail, and readiness would
  // flap. First the compaction run the failed commit carried, alone: the
  // next write would carry it again, and it may need far more room than the
  // events. It carries into `objects` only events the store's history has
  // dropped already, so no client sees it. Then as many bytes as the failed
  // write's events, freed again at once.
  void Probe() {
    std::lock_guard<std::mutex> lock(mu);
    if (Fault().empty() || !statements_ready) return;
    int rc = SQLITE_OK;
    if (failed_compaction_start > stored_history_start) {
      bool compacted = false;
      rc = CommitLocked({}, failed_compaction_start, &compacted, /*compact_now=*/true);
      if (rc == SQLITE_OK && compacted) compactions.fetch_add(1, std::memory_order_relaxed);
    }
    if (rc == SQLITE_OK) {
      failed_compaction_start = 0;
      const auto bytes = static_cast<std::int64_t>(std::clamp<std::size_t>(failed_bytes, 64 << 10, 8 << 20));
      probe_fill_->Int(1, bytes);
      rc = RunAlone(*probe_fill_);
      if (rc == SQLITE_OK) rc = RunAlone(*probe_clear_);
    }
    SetFault(rc == SQLITE_OK ? "" : "cannot commit to " + options.path + ": " + Describe(rc));
  }

  // The fault and the counters are read by /readyz and /metrics on the
  // admin HTTP thread, which must never wait for a commit (S32): they are
  // set after the commit's I/O (with mu held, so in commit order), under a
  // lock of their own that no I/O holds. A non-empty fault counts as one
  // more error.
  void SetFault(std::string why) {
    if (!why.empty()) commit_errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(fault_mu);
    fault = std::move(why);
  }
  std::string Fault() const {
    std::lock_guard<std::mutex> lock(fault_mu);
    return fault;
  }

  SqliteOptions options;
  sqlite3* db = nullptr;
  int lock_fd = -1;
  bool statements_ready = false;

  mutable std::mutex fault_mu;  // `fault` only; never held across I/O
  std::string fault;
  std::atomic<std::uint64_t> commits{0}, commit_errors{0}, compactions{0};

  mutable std::mutex mu;  // the connection and everything below
  Revision stored_history_start = 0;
  std::uint64_t slots = 0;       // events live in slot revision % slots
  // Per slot, the revision of the event it holds (0: none loaded or written
  // by this process); those at or below stored_history_start are carried.
  std::vector<Revision> occupant;
  std::vector<std::string> encoded;  // the batch being committed, encoded
  std::size_t batch_bytes = 0;   // encoded bytes of the transaction being committed
  std::size_t uncompacted_bytes = 0;  // committed since the last compaction
  bool batch_compacts = false;    // whether that transaction carries a compaction run
  std::size_t failed_bytes = 0;  // of the last one that failed
  Revision failed_compaction_start = 0;  // the start its compaction run was for (0: none)
  std::optional<PendingGaps> pending_gaps;  // not yet written (KeepRestartGaps)
  std::unique_ptr<Stmt> begin_ = std::make_unique<Stmt>(), commit_ = std::make_unique<Stmt>(),
                        rollback_ = std::make_unique<Stmt>(), insert_event_ = std::make_unique<Stmt>(),
                        dropped_events_ = std::make_unique<Stmt>(), carry_object_ = std::make_unique<Stmt>(),
                        delete_object_ = std::make_unique<Stmt>(), set_meta_ = std::make_unique<Stmt>(),
                        drop_events_ = std::make_unique<Stmt>(), probe_fill_ = std::make_unique<Stmt>(),
                        probe_clear_ = std::make_unique<Stmt>();
};

SqliteBackend::SqliteBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteBackend::~SqliteBackend() = default;

Result<std::shared_ptr<SqliteBackend>> SqliteBackend::Open(SqliteOptions options) {
  if (!options.codec) return Fail(ErrorCode::kInternal, "sqlite backend needs a codec");
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto opened = impl->Open(); !opened.ok()) return opened.error();
  return std::make_shared<SqliteBackend>(std::move(impl));
}

Result<Backend::Snapshot> SqliteBackend::Load() { return impl_->Load(); }

Result<bool> SqliteBackend::Commit(const std::vector<Event>& events, Revision history_start) {
  return impl_->Commit(events, history_start);
}

Revision SqliteBackend::ResumeAt(Revision loaded, Revision at_least) const {
  if (at_least <= loaded) return loaded;
  const Revision n = impl_->slots;
  return loaded + (at_least - loaded + n - 1) / n * n;
}

void SqliteBackend::KeepRestartGaps(const std::vector<RevisionGap>& gaps, Revision start) {
  impl_->KeepRestartGaps(gaps, start);
}

std::string SqliteBackend::Fault() const { return impl_->Fault(); }

void SqliteBackend::Probe() { impl_->Probe(); }

SqliteStats SqliteBackend::Stats() const {
  SqliteStats s;
  s.commits = impl_->commits.load(std::memory_order_relaxed);
  s.commit_errors = impl_->commit_errors.load(std::memory_order_relaxed);
  s.compactions = impl_->compactions.load(std::memory_order_relaxed);
  s.database_bytes = FileSize(impl_->options.path);
  s.wal_bytes = FileSize(impl_->options.path + "-wal");
  return s;
}

Result<bool> SqliteBackend::CreateSchemaForTesting(const std::string& path, int version) {
  SqliteOptions o;
  o.path = path;
  Impl impl(o);
  int rc = sqlite3_open_v2(path.c_str(), &impl.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) return impl.OpenError(rc, "creating");
  impl.Exec("PRAGMA journal_mode=WAL");
  return impl.Layout(sqlite_layout::Migrate(impl.db, 0, version));
}

}  // namespace deviceapi::store
