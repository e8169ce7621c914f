#include "client/watch_stream.h"

#include <grpcpp/grpcpp.h>

#include "client/request_options.h"

namespace deviceapi {
namespace {

class GrpcWatchStream final : public WatchStream {
 public:
  // Opening the stream blocks until the request is sent, which on a
  // connection still being made (a server that accepted it and stalled)
  // takes up to gRPC's connect timeout: the canceller is registered first,
  // so that another thread can end that wait too.
  GrpcWatchStream(v1alpha1::GpuService::Stub* stub, const v1alpha1::WatchGpusRequest& request,
                  CallCanceller* canceller)
      : cancel_scope_(canceller, &context_), reader_(stub->WatchGpus(&context_, request)) {}

  ~GrpcWatchStream() override {
    if (!finished_) {
      context_.TryCancel();
      v1alpha1::WatchGpusResponse drain;
      while (reader_->Read(&drain)) {
      }
      reader_->Finish().ok();
    }
  }

  bool Next(WatchEvent* event) override {
    if (done_) return false;
    v1alpha1::WatchGpusResponse resp;
    while (reader_->Read(&resp)) {
      EventType type;
      if (!ParseEventType(resp.type(), &type)) {
        // A type this client does not know: skipping is safer than guessing.
        continue;
      }
      event->type = type;
      event->object = std::move(*resp.mutable_object());
      return true;
    }
    done_ = true;
    return false;
  }

  Status Finish() override {
    if (finished_) return status_;
    if (!done_) {
      context_.TryCancel();
      v1alpha1::WatchGpusResponse drain;
      while (reader_->Read(&drain)) {
      }
      done_ = true;
    }
    finished_ = true;
    status_ = Status::FromGrpc(reader_->Finish());
    if (cancelled_ && status_.code() == grpc::StatusCode::CANCELLED) status_ = Status();
    return status_;
  }

  void Cancel() override {
    cancelled_ = true;
    context_.TryCancel();
  }

 private:
  grpc::ClientContext context_;
  client_internal::CancelScope cancel_scope_;  // after context_, before reader_
  std::unique_ptr<grpc::ClientReader<v1alpha1::WatchGpusResponse>> reader_;
  bool done_ = false;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
  Status status_;
};

class FailedWatchStream final : public WatchStream {
 public:
  explicit FailedWatchStream(Status status) : status_(std::move(status)) {}
  bool Next(WatchEvent*) override { return false; }
  Status Finish() override { return status_; }
  void Cancel() override {}

 private:
  Status status_;
};

}  // namespace

bool ParseEventType(const std::string& text, EventType* out) {
  if (text == "ADDED") *out = EventType::kAdded;
  else if (text == "MODIFIED") *out = EventType::kModified;
  else if (text == "DELETED") *out = EventType::kDeleted;
  else if (text == "BOOKMARK") *out = EventType::kBookmark;
  else if (text == "ERROR") *out = EventType::kError;
  else return false;
  return true;
}

std::unique_ptr<WatchStream> MakeGrpcWatchStream(v1alpha1::GpuService::Stub* stub,
                                                 const v1alpha1::WatchGpusRequest& request,
                                                 CallCanceller* canceller) {
  return std::make_unique<GrpcWatchStream>(stub, request, canceller);
}

std::unique_ptr<WatchStream> MakeFailedWatchStream(Status status) {
  return std::make_unique<FailedWatchStream>(std::move(status));
}

}  // namespace deviceapi
