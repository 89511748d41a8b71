// When and how long to wait before retrying a failed HTTP call: which failures are transient (429, 5xx,
// timeouts, connection resets, garbled bodies), exponential backoff with jitter, and the server's
// Retry-After / retry-after-ms honoured but capped. Pure logic: it never sleeps and never does I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::llm {

struct RetryPolicy {
  int max_attempts = 5;           // total tries, first included (1 = no retry)
  double base_ms = 500;           // first backoff; doubles per attempt
  double max_ms = 30000;          // cap on any single wait (Retry-After included)
  double jitter = 0.5;            // fraction of the backoff drawn at random: wait ∈ [(1-j)·b, b]

  // The wait before attempt `next_attempt` (2 = first retry). `retry_after_ms`, when the server sent one,
  // replaces the backoff (still capped at max_ms). `u` is a uniform draw in [0, 1).
  double delay_ms(int next_attempt, std::optional<double> retry_after_ms, double u) const;
};

// Reads {max_attempts, base_ms, max_ms, jitter} from a JSON object (missing keys keep `base`'s values).
// Throws ecpo::Error naming `where` on a bad value.
RetryPolicy retry_policy_from_json(const nlohmann::json& j, const RetryPolicy& base, const std::string& where);

// Whether an HTTP status is worth retrying (408, 409, 425, 429, 5xx).
bool http_status_retryable(int status);
// Whether a failure kind is transient (transport, timeout, rate_limited, 5xx http_status, bad_response).
bool failure_retryable(FailureKind kind, int http_status);

// Parses a Retry-After value: delta-seconds ("2", "0.5") or an HTTP-date; nullopt when unparsable.
// `now_unix_s` is the current time for the date form.
std::optional<double> parse_retry_after_ms(const std::string& value, std::int64_t now_unix_s);

}  // namespace ecpo::llm
