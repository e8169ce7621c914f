// ResourceStrategy<Msg>: what differs between resource kinds, behind one
// generic create/update/status-update flow (Kubernetes' rest.RESTCreateStrategy
// and friends). Msg is any message shaped like a Kubernetes object:
// `ObjectMeta metadata = 1; <Kind>Spec spec = 2; <Kind>Status status = 3;`,
// or without a status (a Lease): then there is no status update, and the
// status hooks are never called.
//
// The generic half (this header) owns metadata: defaults and server-set fields
// (S3), immutables (S3), what an update may change and when generation moves
// (S4), labels and annotations (S19, S20). A kind supplies only its field
// root for error paths, its name rule, its spec/status validation and its
// server-maintained status fields (GPU: condition transition times, S6).
//
// Stateless and thread-safe: every method is const and may run under the
// store's write lock, so none of them blocks.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <string_view>

#include "apiserver/field_errors.h"
#include "apiserver/uuid.h"
#include "apiserver/validation.h"
#include "store/result.h"

namespace deviceapi::apiserver {

inline constexpr std::string_view kDefaultNamespace = "default";

// Kinds with a status subresource.
template <typename Msg>
concept HasStatus = requires(const Msg& m) { m.status(); };

// The part of an object a write addresses: labels, annotations and spec
// (Update), or the status (UpdateStatus).
enum class Subresource { kMain, kStatus };

template <typename Msg>
class ResourceStrategy {
 public:
  explicit ResourceStrategy(ServiceLimits limits) : limits_(limits) {}
  virtual ~ResourceStrategy() = default;

  // ---- kind-specific hooks ----

  // Root of field paths in error messages, e.g. "gpu".
  virtual std::string Root() const = 0;
  // Checks metadata.name; the default demands a DNS-1123 subdomain.
  virtual void ValidateName(std::string_view name, const std::string& path,
                            FieldErrors* errors) const {
    ValidateObjectName(name, /*allow_gpu_uuid=*/false, path, errors);
  }
  virtual void ValidateSpec(const Msg& object, FieldErrors* errors) const = 0;
  virtual void ValidateStatus(const Msg& object, FieldErrors* errors) const = 0;
  // Fills server-maintained status fields of `object` given the previous
  // state (`old` is null on create). Runs before ValidateStatus's result is
  // used and after the request's status was copied into `object`.
  virtual void NormalizeStatus(Msg* object, const Msg* old,
                               const google::protobuf::Timestamp& now) const {}
  // Fills server-maintained spec fields of `object` given the previous state
  // (`old` is null on create), before the spec is validated and compared.
  virtual void PrepareSpec(Msg* object, const Msg* old) const {}

  const ServiceLimits& limits() const { return limits_; }

  // ---- generic flow ----

  // Checks a name/namespace pair addressing an object (namespace defaulted).
  FieldErrors ValidateKey(std::string_view ns, std::string_view name,
                          const std::string& ns_path, const std::string& name_path) const {
    FieldErrors errors;
    ValidateNamespace(ns, ns_path, &errors);
    ValidateName(name, name_path, &errors);
    return errors;
  }

  // Create (S3): defaults the namespace, sets uid, creation_timestamp and
  // generation = 1, fills status fields, then validates the whole object.
  // A resource_version on a new object is an error (as in Kubernetes).
  // Works on `object` in place (on the request's arena, so nothing is copied).
  store::Result<bool> PrepareForCreate(Msg* object, const google::protobuf::Timestamp& now) const {
    auto* meta = object->mutable_metadata();
    if (meta->namespace_().empty()) meta->set_namespace_(std::string(kDefaultNamespace));
    FieldErrors errors;
    const std::string m = Root() + ".metadata";
    if (!meta->resource_version().empty()) {
      AddInvalid(&errors, m + ".resource_version", "must not be set on create");
    }
    ValidateNamespace(meta->namespace_(), m + ".namespace", &errors);
    ValidateName(meta->name(), m + ".name", &errors);
    ValidateLabelsAndAnnotations(*meta, limits_, m, &errors);
    meta->set_uid(NewUuidV4());
    *meta->mutable_creation_timestamp() = now;
    meta->set_generation(1);
    PrepareSpec(object, nullptr);
    NormalizeStatus(object, nullptr, now);
    ValidateSpec(*object, &errors);
    ValidateStatus(*object, &errors);
    if (!errors.empty()) return ToError(errors);
    return true;
  }

  // Checks the parts of an UpdateGpu request that do not depend on the stored
  // object (namespace already defaulted), so the store lock is held briefly.
  FieldErrors ValidateUpdate(const Msg& request) const {
    FieldErrors errors;
    const std::string m = Root() + ".metadata";
    ValidateNamespace(request.metadata().namespace_(), m + ".namespace", &errors);
    ValidateName(request.metadata().name(), m + ".name", &errors);
    ValidateLabelsAndAnnotations(request.metadata(), limits_, m, &errors);
    ValidateSpec(request, &errors);
    return errors;
  }

  // Update (S3, S4): the new state `out` is `old` with spec, labels and
  // annotations from the request, which they are moved out of; status and
  // server fields stay. Changing uid or creation_timestamp is
  // INVALID_ARGUMENT; generation moves iff spec changed.
  store::Result<bool> PrepareForUpdate(Msg* request, const Msg& old, Msg* out) const {
    FieldErrors errors;
    const std::string m = Root() + ".metadata";
    const auto& in = request->metadata();
    if (!in.uid().empty() && in.uid() != old.metadata().uid()) {
      AddInvalid(&errors, m + ".uid", "field is immutable");
    }
    if (in.has_creation_timestamp() &&
        (in.creation_timestamp().seconds() != old.metadata().creation_timestamp().seconds() ||
         in.creation_timestamp().nanos() != old.metadata().creation_timestamp().nanos())) {
      AddInvalid(&errors, m + ".creation_timestamp", "field is immutable");
    }
    if (!errors.empty()) return ToError(errors);
    CopyAllBut(old, kSpec, out);
    out->mutable_spec()->Swap(request->mutable_spec());
    PrepareSpec(out, &old);
    out->mutable_metadata()->mutable_labels()->swap(*request->mutable_metadata()->mutable_labels());
    out->mutable_metadata()->mutable_annotations()->swap(
        *request->mutable_metadata()->mutable_annotations());
    if (!EqualEncodings(out->spec(), old.spec())) {
      out->mutable_metadata()->set_generation(old.metadata().generation() + 1);
    }
    return true;
  }

  // Checks an UpdateGpuStatus request: only name, namespace and status are
  // read (resource_version is the caller's precondition).
  FieldErrors ValidateStatusUpdate(const Msg& request) const {
    FieldErrors errors;
    const std::string m = Root() + ".metadata";
    ValidateNamespace(request.metadata().namespace_(), m + ".namespace", &errors);
    ValidateName(request.metadata().name(), m + ".name", &errors);
    ValidateStatus(request, &errors);
    return errors;
  }

  // Status update (S4, S6): `out` is `old` with the request's status, which
  // is moved out of the request (a pointer swap when both share an arena);
  // metadata, generation and spec stay.
  void PrepareForStatusUpdate(Msg* request, const Msg& old, const google::protobuf::Timestamp& now,
                              Msg* out) const {
    CopyAllBut(old, kStatus, out);
    out->mutable_status()->Swap(request->mutable_status());
    NormalizeStatus(out, &old, now);
  }

  // A whole new state `updated`, built from `old` (a patch, S31), checked
  // as an update of `part`: everything outside `part` must equal `old`
  // (INVALID_ARGUMENT otherwise: the wrong subresource, an immutable field;
  // PatchGpu also refuses a document that names a part outside `part`,
  // changed or not, before it is applied: ParsePatch);
  // then validation (S20; not for the server's own writes, `validate`
  // false), transition times (S6) or generation (S4) as for Update /
  // UpdateStatus. Returns whether `updated` differs from `old`.
  store::Result<bool> PrepareForMutation(Subresource part, const Msg& old,
                                         const google::protobuf::Timestamp& now,
                                         Msg* updated, bool validate = true) const {
    FieldErrors errors;
    const std::string m = Root() + ".metadata";
    if (part == Subresource::kStatus) {
      if constexpr (HasStatus<Msg>) {
        if (!EqualEncodings(updated->metadata(), old.metadata()) ||
            !EqualEncodings(updated->spec(), old.spec())) {
          AddInvalid(&errors, Root(), "subresource \"status\" changes only status");
          return ToError(errors);
        }
        NormalizeStatus(updated, &old, now);
        if (validate) ValidateStatus(*updated, &errors);
        if (!errors.empty()) return ToError(errors);
        return !StatusUnchanged(*updated, old);
      } else {
        AddInvalid(&errors, Root(), "this kind has no status");
        return ToError(errors);
      }
    }
    if constexpr (HasStatus<Msg>) {
      if (!EqualEncodings(updated->status(), old.status())) {
        AddInvalid(&errors, Root() + ".status",
                   "changes only with subresource \"status\"");
      }
    }
    auto fixed = [](const Msg& object) {
      auto meta = object.metadata();
      meta.clear_labels();
      meta.clear_annotations();
      return meta;
    };
    if (!EqualEncodings(fixed(*updated), fixed(old))) {
      AddInvalid(&errors, m,
                 "only labels and annotations may change (name, namespace, uid, generation, "
                 "creation_timestamp and resource_version are set by the server)");
    }
    if (!errors.empty()) return ToError(errors);
    ValidateLabelsAndAnnotations(updated->metadata(), limits_, m, &errors);
    PrepareSpec(updated, &old);
    ValidateSpec(*updated, &errors);
    if (!errors.empty()) return ToError(errors);
    if (!EqualEncodings(updated->spec(), old.spec())) {
      updated->mutable_metadata()->set_generation(old.metadata().generation() + 1);
    }
    return !Unchanged(*updated, old);
  }

  // True when `updated` equals `old`: the write is a no-op (S1).
  // Compares deterministic encodings (fields in number order, map entries
  // sorted by key): equal exactly when the messages are equal, as no field of
  // these kinds is floating point. MessageDifferencer::Equals walked both
  // messages by reflection, a quarter of an UpdateGpuStatus's server time,
  // spent under the store's write lock.
  static bool Unchanged(const Msg& updated, const Msg& old) { return EqualEncodings(updated, old); }

  // As Unchanged, for a status update's result: everything but the status was
  // copied from `old`, so only the status can differ. Kinds may compare
  // field by field instead of encoding both statuses (GpuStrategy does).
  virtual bool StatusUnchanged(const Msg& updated, const Msg& old) const {
    if constexpr (HasStatus<Msg>) {
      return EqualEncodings(updated.status(), old.status());
    } else {
      return true;
    }
  }

  // Deterministic encodings of `a` and `b` are equal.
  static bool EqualEncodings(const google::protobuf::MessageLite& a,
                             const google::protobuf::MessageLite& b) {
    const std::size_t size = a.ByteSizeLong();
    if (size != b.ByteSizeLong()) return false;
    // Reused per thread: no allocation per comparison once warm.
    thread_local std::string left, right;
    DeterministicBytes(a, size, &left);
    DeterministicBytes(b, size, &right);
    return left == right;
  }

 private:
  enum Replaced { kSpec, kStatus };

  // Kinds shaped exactly `metadata = 1; spec = 2; status = 3`.
  static bool MetadataSpecStatusOnly() {
    static const bool only = HasStatus<Msg> && Msg::descriptor()->field_count() == 3;
    return only;
  }

  // `old` without the part the caller replaces: copying the old conditions
  // only to drop them was about a tenth of the time a status update holds
  // the store's write lock. A kind with fields beyond metadata, spec and
  // status gets the plain copy, so nothing of it is ever dropped.
  static void CopyAllBut(const Msg& old, Replaced replaced, Msg* out) {
    if (!MetadataSpecStatusOnly()) {
      *out = old;
      if (replaced == kSpec) out->clear_spec();
      if constexpr (HasStatus<Msg>) {
        if (replaced == kStatus) out->clear_status();
      }
      return;
    }
    if constexpr (HasStatus<Msg>) {
      if (old.has_metadata()) *out->mutable_metadata() = old.metadata();
      if (replaced != kSpec && old.has_spec()) *out->mutable_spec() = old.spec();
      if (replaced != kStatus && old.has_status()) *out->mutable_status() = old.status();
    }
  }

  // `size` is message.ByteSizeLong(), just computed (the sizes it caches
  // are what SerializeWithCachedSizes relies on).
  static void DeterministicBytes(const google::protobuf::MessageLite& message, std::size_t size,
                                 std::string* out) {
    out->resize(size);
    google::protobuf::io::ArrayOutputStream stream(out->data(), static_cast<int>(size));
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeWithCachedSizes(&coded);
  }

  ServiceLimits limits_;
};

}  // namespace deviceapi::apiserver
