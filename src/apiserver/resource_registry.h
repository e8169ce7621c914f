// ResourceRegistry<Msg>: the generic storage flow of one resource kind
// (Kubernetes' generic registry): request object -> strategy -> store, with
// resource-version preconditions (S5), no-op detection (S1) and delete
// stamping (S7). Knows nothing about gRPC; returns store::Result so the
// transport maps errors in one place (status_mapping.h).
//
// A second kind (NIC, NVSwitch) instantiates this with its message and its
// strategy; nothing here is GPU-specific. Thread-safe (the store is).
#pragma once

#include <google/protobuf/util/time_util.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apiserver/admission.h"
#include "apiserver/proto_object.h"
#include "apiserver/request_options.h"
#include "apiserver/resource_strategy.h"
#include "apiserver/unknown_fields.h"
#include "device_api.pb.h"
#include "store/await.h"
#include "store/store.h"

namespace deviceapi::apiserver {

template <typename Msg>
class ResourceRegistry {
 public:
  using Object = ProtoObject<Msg>;
  using ObjectPtr = std::shared_ptr<const Object>;

  ResourceRegistry(store::Store& store, const ResourceStrategy<Msg>& strategy)
      : store_(store), strategy_(strategy) {}

  // Checks every create and every changing update against `admission`
  // (null: none). Set before the registry serves; must outlive it.
  void SetAdmission(const Admission<Msg>* admission) { admission_ = admission; }

  // Every write comes in two forms. The asynchronous one calls `done`
  // exactly once, at once or from the store's committer once the write is
  // durable (store::Store::UpdateAsync): a gRPC handler returns its thread
  // meanwhile (S32). The synchronous one waits for that answer.
  using Done = std::function<void(store::Result<ObjectPtr>)>;

  // Create (S3). ALREADY_EXISTS on a taken key. `object` lives on `arena`
  // (the request's) and becomes the stored version: it is stamped in place
  // and encoded once, before the call returns.
  void Create(ArenaPtr arena, Msg* object, Done done) const {
    DropUnknownFields(object);  // stored whole: nothing unknown is kept
    auto prepared = strategy_.PrepareForCreate(object, Now());
    if (!prepared.ok()) return done(prepared.error());
    const store::ObjectKey key{object->metadata().namespace_(), object->metadata().name()};
    store_.CreateAsync(
        key,
        [&](store::Revision next) -> store::Result<store::ObjectPtr> {
          if (auto refused = Admit(*object, nullptr, next)) return *refused;
          return store::ObjectPtr(std::make_shared<Object>(object, next));
        },
        Typed(std::move(done)));
  }
  store::Result<ObjectPtr> Create(ArenaPtr arena, Msg* object) const {
    return Await([&](Done done) { Create(std::move(arena), object, std::move(done)); });
  }

  // Update: spec, labels, annotations (S4), precondition on
  // metadata.resource_version (S5). `request` lives on `arena`, which the
  // new version is built on.
  void Update(ArenaPtr arena, Msg* request, Done done) const {
    DropUnknownFields(request->mutable_spec());  // the part of the request that is stored
    DefaultNamespace(request);
    auto target = Addressed(*request, strategy_.ValidateUpdate(*request));
    if (!target.ok()) return done(target.error());
    UpdateOnArena(
        *target, arena,
        [&](const Msg& old, Msg* updated) -> store::Result<bool> {
          auto prepared = strategy_.PrepareForUpdate(request, old, updated);
          if (!prepared.ok()) return prepared.error();
          return !ResourceStrategy<Msg>::Unchanged(*updated, old);
        },
        store::Store::ByteBound::kApplies, std::move(done));
  }
  store::Result<ObjectPtr> Update(ArenaPtr arena, Msg* request) const {
    return Await([&](Done done) { Update(std::move(arena), request, std::move(done)); });
  }

  // Status update: status only (S4, S6), precondition as Update (S5). The
  // request's status moves into the new version, built on `arena`.
  void UpdateStatus(ArenaPtr arena, Msg* request, Done done) const {
    DropUnknownFields(request->mutable_status());  // the part of the request that is stored
    DefaultNamespace(request);
    auto target = Addressed(*request, strategy_.ValidateStatusUpdate(*request));
    if (!target.ok()) return done(target.error());
    const auto now = Now();
    UpdateOnArena(
        *target, arena,
        [&](const Msg& old, Msg* updated) -> store::Result<bool> {
          strategy_.PrepareForStatusUpdate(request, old, now, updated);
          return !strategy_.StatusUnchanged(*updated, old);
        },
        store::Store::ByteBound::kApplies, std::move(done));
  }
  store::Result<ObjectPtr> UpdateStatus(ArenaPtr arena, Msg* request) const {
    return Await([&](Done done) { UpdateStatus(std::move(arena), request, std::move(done)); });
  }

  // The update of (ns, name) that `mutate(old, updated)` builds from the
  // current object under the store's write lock, so it races no other
  // writer and needs no resource_version (PatchGpu, S31; lease expiry, S28).
  // `updated` starts as a copy of `old`; `mutate` returns false to leave the
  // object as it is, or an error. The result is then checked and completed
  // by the strategy as an update of `part` is (PrepareForMutation), admitted,
  // and stored unless nothing changed (S1). `bound`: kExempt only for the
  // server's own safety writes (store.h), which validation skips as well.
  template <typename MutateFn>
  void Mutate(std::string ns, const std::string& name, Subresource part, const MutateFn& mutate,
              store::Store::ByteBound bound, Done done) const {
    if (ns.empty()) ns = std::string(kDefaultNamespace);
    FieldErrors errors = strategy_.ValidateKey(ns, name, "namespace", "name");
    if (!errors.empty()) return done(ToError(errors));
    const Target target{{ns, name}, std::nullopt};
    auto arena = NewMessageArena(kMutateArenaHint);
    const auto now = Now();
    UpdateOnArena(
        target, arena,
        [&](const Msg& old, Msg* updated) -> store::Result<bool> {
          *updated = old;
          store::Result<bool> wanted = mutate(old, updated);
          if (!wanted.ok()) return wanted.error();
          if (!*wanted) return false;
          // The server's own safety writes (lease expiry, exempt from the
          // byte bound too) set status fields to values valid by
          // construction; an object stored under wider limits than today's
          // (a flag lowered across a restart) must not keep them out.
          const bool validate = bound == store::Store::ByteBound::kApplies;
          return strategy_.PrepareForMutation(part, old, now, updated, validate);
        },
        bound, std::move(done));
  }
  template <typename MutateFn>
  store::Result<ObjectPtr> Mutate(std::string ns, const std::string& name, Subresource part,
                                  const MutateFn& mutate,
                                  store::Store::ByteBound bound = store::Store::ByteBound::kApplies) const {
    return Await([&](Done done) { Mutate(std::move(ns), name, part, mutate, bound, std::move(done)); });
  }

  // Delete with optional preconditions (S5); returns the DELETED state
  // stamped with the deletion's revision (S7). The admission's BeforeDelete
  // runs first: it may hold the delete back for a while or refuse it. A
  // delete its preconditions refuse changes nothing (S5), so they are
  // checked against the stored object before BeforeDelete runs, and again
  // at the delete itself, in case the object changed meanwhile.
  void Delete(std::string ns, const std::string& name, const nvidia::nvsentinel::v1alpha1::Preconditions& pre,
              Done done) const {
    if (ns.empty()) ns = std::string(kDefaultNamespace);
    FieldErrors errors = strategy_.ValidateKey(ns, name, "namespace", "name");
    if (!errors.empty()) return done(ToError(errors));
    auto expected = ParseResourceVersion(pre.resource_version(),
                                         "opts.preconditions.resource_version");
    if (!expected.ok()) return done(expected.error());
    store::ObjectKey key{ns, name};
    auto proceed = [this, key, uid = pre.uid(), rv = *expected, done](std::function<void(bool)> after) {
      DeleteNow(key, uid, rv, [after = std::move(after), done](store::Result<ObjectPtr> result) {
        if (after) after(result.ok());
        done(std::move(result));
      });
    };
    if (admission_ == nullptr) return proceed(nullptr);
    // Every uid and resource version a client may hold is visible (S24), and
    // neither comes back once changed: a mismatch with the visible object is
    // a mismatch with every later one. A key not (yet) visible is left to the
    // delete itself.
    if (!pre.uid().empty() || expected->has_value()) {
      auto stored = store_.Get(key);
      if (stored.ok()) {
        auto current = Object::From(*stored);
        if (!current) return done(Internal());
        if (auto refused = CheckPreconditions(pre.uid(), *expected, *current)) return done(*refused);
      }
    }
    admission_->BeforeDelete(key, std::move(proceed), [done](store::Error refused) { done(std::move(refused)); });
  }
  store::Result<ObjectPtr> Delete(std::string ns, const std::string& name,
                                  const nvidia::nvsentinel::v1alpha1::Preconditions& pre) const {
    return Await([&](Done done) { Delete(std::move(ns), name, pre, std::move(done)); });
  }

  // Get (S9): resource_version "" / "0" current; "N" not older than N.
  store::Result<ObjectPtr> Get(std::string ns, const std::string& name,
                               const std::string& resource_version) const {
    if (ns.empty()) ns = std::string(kDefaultNamespace);
    if (auto key = CheckKey(ns, name); !key.ok()) return key.error();
    auto rv = ParseResourceVersion(resource_version, "opts.resource_version");
    if (!rv.ok()) return rv.error();
    store::GetOptions options;
    options.min_revision = rv->value_or(0);
    return Typed(store_.Get({ns, name}, options));
  }

  // List (S9, S10): the matching objects of `ns` (all namespaces when
  // empty) at one revision, sorted by namespace, then name.
  struct ListResult {
    store::Revision revision = 0;
    std::vector<ObjectPtr> items;
  };
  store::Result<ListResult> List(const std::string& ns,
                                  const nvidia::nvsentinel::v1alpha1::ListOptions& opts) const {
    auto options = ToStoreListOptions(ns, opts, strategy_.limits().selector);
    if (!options.ok()) return options.error();
    auto list = store_.List(*options);
    if (!list.ok()) return list.error();
    ListResult typed{list->revision, {}};
    typed.items.reserve(list->items.size());
    for (const auto& item : list->items) {
      auto object = Object::From(item);
      if (!object) return Internal();
      typed.items.push_back(std::move(object));
    }
    return typed;
  }
  // What Get, List and Watch refuse before they read (S20, S10): the
  // checks a read waiting for a future revision passes first.
  store::Result<bool> CheckKey(std::string ns, const std::string& name) const {
    if (ns.empty()) ns = std::string(kDefaultNamespace);
    FieldErrors errors = strategy_.ValidateKey(ns, name, "namespace", "name");
    if (!errors.empty()) return ToError(errors);
    return true;
  }
  store::Result<bool> CheckList(const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts) const {
    auto options = ToStoreListOptions(ns, opts, strategy_.limits().selector);
    if (!options.ok()) return options.error();
    return true;
  }
  store::Result<bool> CheckWatch(const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts) const {
    auto options = ToStoreWatchOptions(ns, opts, strategy_.limits().selector);
    if (!options.ok()) return options.error();
    return true;
  }

  // Watch (S12-S18): events of `ns` (all when empty) as the options say.
  store::Result<std::shared_ptr<store::Watcher>> Watch(
      const std::string& ns, const nvidia::nvsentinel::v1alpha1::ListOptions& opts) const {
    auto options = ToStoreWatchOptions(ns, opts, strategy_.limits().selector);
    if (!options.ok()) return options.error();
    return store_.Watch(*options);
  }

  store::Store& store() const { return store_; }

 private:
  static google::protobuf::Timestamp Now() {
    return google::protobuf::util::TimeUtil::GetCurrentTime();
  }
  // Encoded size of a typical object: sizes the arena of a Mutate.
  static constexpr std::size_t kMutateArenaHint = 1024;
  static store::Error Internal() {
    return store::MakeError(store::ErrorCode::kInternal, "store holds an object of another kind");
  }
  // What a write request addresses, once the checks that need no stored
  // object passed: its key and its resource_version precondition (S5).
  struct Target {
    store::ObjectKey key;
    std::optional<store::Revision> expected;
  };
  // The delete itself, once the admission let it go ahead.
  void DeleteNow(const store::ObjectKey& key, const std::string& uid, const std::optional<store::Revision>& rv,
                 Done done) const {
    store_.DeleteAsync(
        key, [&](const store::ObjectPtr& current, store::Revision next) -> store::Result<store::ObjectPtr> {
          auto old = Object::From(current);
          if (!old) return Internal();
          if (auto conflict = CheckPreconditions(uid, rv, *old)) return *conflict;
          auto last = old->Parse();
          if (admission_ != nullptr) admission_->Deleted(*last);
          return store::ObjectPtr(std::make_shared<Object>(last.mutable_message(), next));
        },
        Typed(std::move(done)));
  }

  store::Result<Target> Addressed(const Msg& request, const FieldErrors& errors) const {
    if (!errors.empty()) return ToError(errors);
    auto precondition = ParseResourceVersion(request.metadata().resource_version(),
                                             strategy_.Root() + ".metadata.resource_version");
    if (!precondition.ok()) return precondition.error();
    return Target{{request.metadata().namespace_(), request.metadata().name()}, *precondition};
  }
  // The store update of `target`, under its precondition (S5): `build(old,
  // updated)` fills `updated` (on `arena`) and says whether it differs from
  // `old`; when it does not, the write is a no-op (S1). The current version
  // is parsed onto `arena` too, so the build allocates nothing else.
  template <typename Build>
  void UpdateOnArena(const Target& target, ArenaPtr& arena, const Build& build, store::Store::ByteBound bound,
                     Done done) const {
    store_.UpdateAsync(
        target.key, [&](const store::ObjectPtr& current, store::Revision next) -> store::Result<store::ObjectPtr> {
          auto old = Object::From(current);
          if (!old) return Internal();
          if (auto conflict = CheckRevision(target.expected, *old)) return *conflict;
          const Msg* last = old->ParseOnto(arena.get());
          if (last == nullptr) return Internal();
          Msg* updated = google::protobuf::Arena::CreateMessage<Msg>(arena.get());
          auto changed = build(*last, updated);
          if (!changed.ok()) return changed.error();
          if (!*changed) return current;
          if (auto refused = Admit(*updated, last, next)) return *refused;
          return store::ObjectPtr(std::make_shared<Object>(updated, next));
        },
        bound, Typed(std::move(done)));
  }
  std::optional<store::Error> Admit(const Msg& updated, const Msg* old, store::Revision revision) const {
    if (admission_ == nullptr) return std::nullopt;
    return admission_->Admit(updated, old, revision);
  }
  static void DefaultNamespace(Msg* request) {
    if (request->metadata().namespace_().empty()) {
      request->mutable_metadata()->set_namespace_(std::string(kDefaultNamespace));
    }
  }
  // S5: a delete's uid and resource_version, where set, must be the
  // current object's.
  static std::optional<store::Error> CheckPreconditions(const std::string& uid,
                                                        const std::optional<store::Revision>& rv,
                                                        const Object& current) {
    if (!uid.empty()) {
      auto last = current.Parse();
      if (uid != last->metadata().uid()) {
        return store::MakeError(store::ErrorCode::kConflict,
                                "precondition failed: uid in precondition: " + Quote(uid) +
                                    ", uid in object meta: " + last->metadata().uid());
      }
    }
    return CheckRevision(rv, current);
  }
  // S5: a non-empty resource_version must equal the current one.
  static std::optional<store::Error> CheckRevision(const std::optional<store::Revision>& expected,
                                                   const Object& current) {
    if (!expected.has_value() || *expected == current.revision()) return std::nullopt;
    return store::MakeError(
        store::ErrorCode::kConflict,
        "the object has been modified; please apply your changes to the latest version and try "
        "again (resource_version " + std::to_string(*expected) + ", current " +
            std::to_string(current.revision()) + ")");
  }
  static store::Result<ObjectPtr> Typed(store::Result<store::ObjectPtr> result) {
    if (!result.ok()) return result.error();
    auto typed = Object::From(*result);
    if (!typed) return Internal();
    return typed;
  }
  // `done` as the store's write callback.
  static store::Store::WriteDone Typed(Done done) {
    return [done = std::move(done)](store::Result<store::ObjectPtr> result) { done(Typed(std::move(result))); };
  }
  // Runs an asynchronous write and waits for its answer.
  template <typename Start>
  static store::Result<ObjectPtr> Await(const Start& start) {
    return store::AwaitAnswer<ObjectPtr>(start);
  }

  store::Store& store_;
  const ResourceStrategy<Msg>& strategy_;
  const Admission<Msg>* admission_ = nullptr;
};

}  // namespace deviceapi::apiserver
