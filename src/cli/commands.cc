// What every command shares (error lines, namespaces, listing) and the
// commands that change nothing: health and version.
#include "cli/commands.h"

#include <cctype>
#include <iostream>

#include "deviceapi/build_info.h"

namespace deviceapi::cli {
namespace {

// Line breaks as blanks, any other control character escaped (Printable).
std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return Printable(s);
}

// kubectl's reason for the gRPC code. Kubernetes has none for a write refused
// because a provider lease expired (FAILED_PRECONDITION): FailedPrecondition,
// as the Go client calls it; nor for a cancelled call: Canceled.
const char* ReasonOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::ABORTED: return "Conflict";
    case grpc::StatusCode::INVALID_ARGUMENT: return "Invalid";
    case grpc::StatusCode::OUT_OF_RANGE: return "Expired";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "TooManyRequests";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "Timeout";
    case grpc::StatusCode::UNAVAILABLE: return "ServiceUnavailable";
    case grpc::StatusCode::PERMISSION_DENIED: return "Forbidden";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthorized";
    case grpc::StatusCode::UNIMPLEMENTED: return "NotImplemented";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    default: return "InternalError";  // INTERNAL, UNKNOWN, DATA_LOSS
  }
}

// Whether an UNAVAILABLE status is gRPC's own on this side, and which:
// kNeverReached, the call never reached the server (nothing listens on the
// socket, the name does not resolve, the connection was refused); kBroken,
// the connection broke while the call was out (the server was killed or
// closed it), so a write may have been applied. The server's own
// UNAVAILABLE answers ("not ready: ...", "server shutting down", "storage
// unavailable" on a disk fault) are neither: they are errors from the server.
enum class Transport { kServer, kNeverReached, kBroken };

Transport TransportFailure(const Status& status) {
  if (!status.IsUnavailable()) return Transport::kServer;
  static const char* const kNeverReached[] = {
      "failed to connect",                    // gRPC before 1.52: "... to all addresses"
      "connections to all backends failing",  // later gRPC
      "dns resolution failed",
      "name resolution",
      "empty address list",
      "connection refused",
      "connection timed out",
      "no such file or directory",  // a unix socket that is not there
      "permission denied",          // one this user may not open
      "network is unreachable",
      "no route to host",
      "handshake failed",  // TLS
  };
  static const char* const kBroken[] = {"connection reset", "socket closed", "broken pipe"};
  std::string text = status.message();
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // "failed to connect ...: Connection reset by peer" never reached: the
  // first list wins.
  for (const char* needle : kNeverReached)
    if (text.find(needle) != std::string::npos) return Transport::kNeverReached;
  for (const char* needle : kBroken)
    if (text.find(needle) != std::string::npos) return Transport::kBroken;
  return Transport::kServer;
}

Json VersionJson(const std::string& version, const std::string& commit, const std::string& date) {
  Json j = Json::object();
  j["version"] = version;
  j["commit"] = commit;
  j["buildDate"] = date;
  return j;
}

}  // namespace

std::string ErrorLine(const Status& status, const std::string& target) {
  switch (TransportFailure(status)) {
    case Transport::kNeverReached:
      return "error: cannot reach the server at " + target + ": " + OneLine(status.message());
    case Transport::kBroken:
      return "error: the connection to the server at " + target +
             " broke before it answered (a write may have been applied; read it back): " +
             OneLine(status.message());
    case Transport::kServer:
      break;
  }
  return std::string("Error from server (") + ReasonOf(status.code()) +
         "): " + OneLine(status.message());
}

int Context::Fail(const Status& status) const {
  err << ErrorLine(status, target) << "\n";
  return kExitError;
}

int Context::Usage(const std::string& message) const {
  err << "error: " << OneLine(message) << "\nRun 'devicectl --help' for usage.\n";
  return kExitUsage;
}

int Context::Error(const std::string& message) const {
  err << "error: " << OneLine(message) << "\n";
  return kExitError;
}

std::string NamespaceOrDefault(const std::string& ns) { return ns.empty() ? "default" : ns; }

StatusOr<GpuList> ListGpus(const Context& ctx, const std::string& ns, const std::string& selector) {
  ListOptions lo;
  lo.namespace_name = ns;
  lo.label_selector = selector;
  lo.call = ctx.call();
  return ctx.client->List(lo);
}

std::string NoResourcesFound(const std::string& ns) {
  return ns.empty() ? "No resources found\n" : "No resources found in " + ns + " namespace.\n";
}

int CmdHealth(Context& ctx) {
  Status health = ctx.client->CheckHealth("", ctx.call());
  ListOptions lo;
  lo.call = ctx.call();
  lo.label_selector = "deviceapi.devicectl/health-probe";  // matches nothing: a cheap read
  Status ready = ctx.client->List(lo).status();
  ctx.out << "server:  " << ctx.target << "\n";
  ctx.out << "health:  "
          << (health.ok() ? "SERVING"
                          : (health.IsUnavailable() && health.message() == "NOT_SERVING"
                                 ? "NOT_SERVING"
                                 : "error (" + OneLine(health.ToString()) + ")"))
          << "\n";
  ctx.out << "ready:   " << (ready.ok() ? "true" : "false (" + OneLine(ready.message()) + ")")
          << "\n";
  return health.ok() && ready.ok() ? kExitOk : kExitError;
}

int CmdVersion(Context& ctx, bool client_only, const std::string& output) {
  if (!output.empty() && output != "json" && output != "yaml")
    return ctx.Usage("unknown output format \"" + output + "\" (want json or yaml)");
  Json doc = Json::object();
  doc["clientVersion"] = VersionJson(build::kVersion, build::kCommit, build::kBuildDate);
  Status failed;
  if (!client_only) {
    StatusOr<ServerVersion> server = ctx.client->GetServerVersion(ctx.call());
    if (server.ok()) {
      doc["serverVersion"] = VersionJson(server->version.empty() ? "<unknown>" : server->version,
                                         server->commit, server->build_date);
    } else {
      failed = server.status();
    }
  }
  // As kubectl: the client's version is printed even when the server is unreachable.
  if (output == "json") {
    ctx.out << FormatJson(doc);
  } else if (output == "yaml") {
    ctx.out << ToYaml(doc);
  } else {
    ctx.out << "Client Version: " << build::kVersion << "\n";
    if (doc.contains("serverVersion"))
      ctx.out << "Server Version: " << doc["serverVersion"]["version"].get<std::string>() << "\n";
  }
  if (!failed.ok()) return ctx.Fail(failed);
  return kExitOk;
}

}  // namespace deviceapi::cli
