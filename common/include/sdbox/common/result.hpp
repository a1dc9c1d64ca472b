#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sdbox {

/// Where an expected failure comes from; lets callers branch on the family without parsing text.
enum class ErrorCategory {
  usage,     ///< the caller asked for something invalid (bad argument, bad option)
  config,    ///< a configuration or state file is unreadable or malformed
  io,        ///< files, sockets, processes
  tlv,       ///< malformed BER-TLV
  apdu,      ///< malformed APDU or unexpected status word
  pcsc,      ///< the PC/SC layer (pcscd, reader, card presence)
  card,      ///< the card refused (wrong PIN, blocked, security status not satisfied)
  crypto,    ///< OpenSSL failures, bad keys or certificates
  tunnel,
  broker,
  internal,
};

std::string_view to_string(ErrorCategory category);

/// An expected failure: a category, a message for people, and an optional numeric detail
/// (a PC/SC return code, an ISO 7816 status word, an errno).
struct Error {
  ErrorCategory category = ErrorCategory::internal;
  std::string message;
  std::int64_t code = 0;

  /// "category: message" (plus the code in hex when there is one).
  [[nodiscard]] std::string describe() const;
};

[[nodiscard]] inline Error make_error(ErrorCategory category, std::string message, std::int64_t code = 0) {
  return Error{category, std::move(message), code};
}

/// Value or expected failure. Reading the value of a failed result is a bug and throws.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}         // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T&& operator*() && { return std::move(checked()); }

  [[nodiscard]] const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() on a successful result");
    return std::get<1>(state_);
  }

 private:
  T& checked() {
    if (!ok()) throw std::logic_error("Result::value() on a failure: " + std::get<1>(state_).describe());
    return std::get<0>(state_);
  }
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  void value() const {
    if (failed_) throw std::logic_error("Result::value() on a failure: " + error_.describe());
  }
  [[nodiscard]] const Error& error() const {
    if (!failed_) throw std::logic_error("Result::error() on a successful result");
    return error_;
  }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace sdbox
