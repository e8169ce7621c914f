#include "client/health_codec.h"

#include <vector>

#include <grpcpp/support/slice.h>

namespace deviceapi {
namespace {

void PutVarint(std::string* out, unsigned long long v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(const std::string& in, std::size_t* pos, unsigned long long* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    unsigned char b = static_cast<unsigned char>(in[(*pos)++]);
    *v |= static_cast<unsigned long long>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

grpc::ByteBuffer EncodeHealthCheckRequest(const std::string& service) {
  std::string bytes;
  if (!service.empty()) {
    bytes.push_back(0x0a);  // field 1, length-delimited
    PutVarint(&bytes, service.size());
    bytes += service;
  }
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

int DecodeHealthCheckResponse(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return -1;
  std::string in;
  for (const auto& s : slices)
    in.append(reinterpret_cast<const char*>(s.begin()), s.size());
  std::size_t pos = 0;
  int status = 0;
  while (pos < in.size()) {
    unsigned long long tag = 0, v = 0;
    if (!GetVarint(in, &pos, &tag)) return -1;
    switch (tag & 7) {
      case 0:
        if (!GetVarint(in, &pos, &v)) return -1;
        if ((tag >> 3) == 1) status = static_cast<int>(v);
        break;
      case 2:
        if (!GetVarint(in, &pos, &v) || v > in.size() - pos) return -1;
        pos += v;
        break;
      case 1: if (in.size() - pos < 8) return -1; pos += 8; break;
      case 5: if (in.size() - pos < 4) return -1; pos += 4; break;
      default: return -1;
    }
  }
  return status;
}

}  // namespace deviceapi
