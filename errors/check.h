// IBZOO_CHECK: the one check for programmer errors. It prints file:line and the
// condition, and throws std::logic_error. User input must never trigger it:
// validate input and throw an ibzoo::Error with context instead.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ibzoo::detail {

[[noreturn]] inline void check_failed(const char* file, int line, const char* cond,
                                      const std::string& detail) {
  std::ostringstream os;
  os << file << ":" << line << ": internal check failed: " << cond;
  if (!detail.empty()) os << " (" << detail << ")";
  throw std::logic_error(os.str());
}

}  // namespace ibzoo::detail

#define IBZOO_CHECK(cond, ...)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::ostringstream ibzoo_check_os_;                                               \
      ibzoo_check_os_ << "" __VA_OPT__(<< __VA_ARGS__);                                 \
      ::ibzoo::detail::check_failed(__FILE__, __LINE__, #cond, ibzoo_check_os_.str()); \
    }                                                                                   \
  } while (false)
