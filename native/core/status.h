// Error reporting for the native core: a code that maps 1:1 to the JS error classes, and a message.
#pragma once
#include <string>
#include <utility>

namespace sk {

enum class ErrorCode {
  ok,
  shape,     // ERR_SHAPE: dims that do not match or are out of range
  dtype,     // ERR_DTYPE: a dtype the operation does not accept
  format,    // ERR_FORMAT: malformed or inconsistent packed data
  device,    // ERR_DEVICE: GPU / driver / device-memory problems
  numeric,   // ERR_NUMERIC: NaN/Inf or a failed factorization
  argument,  // ERR_ARGUMENT: any other invalid argument
  aborted,   // ERR_ABORTED: cancelled by the caller
  memory,    // ERR_MEMORY: host allocation failed
  internal,  // ERR_INTERNAL: a bug in sparsekit
  io,        // ERR_IO: a file could not be opened, read, written or renamed
};

const char* error_code_name(ErrorCode c);

struct Status {
  ErrorCode code = ErrorCode::ok;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(ErrorCode c, std::string msg) { return {c, std::move(msg)}; }
  bool ok() const { return code == ErrorCode::ok; }
};

#define SK_RETURN_IF_ERROR(expr)        \
  do {                                  \
    ::sk::Status _sk_st = (expr);       \
    if (!_sk_st.ok()) return _sk_st;    \
  } while (0)

}  // namespace sk
