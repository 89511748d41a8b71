// Backoff arithmetic and failure classification (see retry-policy.h).
#include "llm/retry-policy.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "util/error.h"
#include "util/json-read.h"
#include "util/text.h"

namespace ecpo::llm {

double RetryPolicy::delay_ms(int next_attempt, std::optional<double> retry_after_ms, double u) const {
  if (retry_after_ms) return std::clamp(*retry_after_ms, 0.0, max_ms);
  int k = std::max(0, next_attempt - 2);
  double b = std::min(max_ms, base_ms * std::pow(2.0, std::min(k, 30)));
  double j = std::clamp(jitter, 0.0, 1.0);
  return b * (1.0 - j) + b * j * std::clamp(u, 0.0, 1.0);
}

RetryPolicy retry_policy_from_json(const nlohmann::json& j, const RetryPolicy& base, const std::string& where) {
  RetryPolicy p = base;
  if (j.is_null()) return p;
  const JsonSource src{where, "e.g. retry: {max_attempts: 5, base_ms: 500, max_ms: 20000, jitter: 0.5}"};
  const JsonAt r(j, src, "retry");
  if (!j.is_object()) r.fail("retry must be a map {max_attempts, base_ms, max_ms, jitter}");
  p.max_attempts = static_cast<int>(r.integer_or("max_attempts", p.max_attempts, 1, 100));
  p.base_ms = r.number_or("base_ms", p.base_ms, 0, 3.6e6);
  p.max_ms = r.number_or("max_ms", p.max_ms, 0, 3.6e6);
  p.jitter = r.number_or("jitter", p.jitter, 0, 1);
  return p;
}

bool http_status_retryable(int status) {
  return status == 408 || status == 409 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

bool failure_retryable(FailureKind kind, int http_status) {
  switch (kind) {
    case FailureKind::transport:
    case FailureKind::timeout:
    case FailureKind::rate_limited:
    case FailureKind::bad_response: return true;
    case FailureKind::http_status: return http_status_retryable(http_status);
    default: return false;
  }
}

std::optional<double> parse_retry_after_ms(const std::string& value, std::int64_t now_unix_s) {
  std::string v = trim(value);
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end && *end == '\0') {
    if (!(secs >= 0) || !std::isfinite(secs)) return std::nullopt;
    return secs * 1000.0;
  }
  // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  const char* r = ::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (!r) return std::nullopt;
  std::int64_t when = static_cast<std::int64_t>(::timegm(&tm));
  return std::max<double>(0.0, static_cast<double>(when - now_unix_s) * 1000.0);
}

}  // namespace ecpo::llm
