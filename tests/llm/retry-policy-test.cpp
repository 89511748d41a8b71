// llm/retry-policy: backoff arithmetic (hand-computed), Retry-After parsing, which failures retry.
#include "llm/retry-policy.h"

#include "test-support.h"
#include "util/error.h"

using namespace ecpo::llm;

TEST(RetryPolicy, ExponentialBackoffWithJitterAndCap) {
  RetryPolicy p;
  p.base_ms = 100;
  p.max_ms = 250;
  p.jitter = 0.5;
  // wait = b·(1−j) + b·j·u, b = min(max, base·2^(attempt−2))
  EXPECT_DOUBLE_EQ(p.delay_ms(2, std::nullopt, 0.0), 50.0);   // b=100
  EXPECT_DOUBLE_EQ(p.delay_ms(2, std::nullopt, 1.0), 100.0);
  EXPECT_DOUBLE_EQ(p.delay_ms(3, std::nullopt, 0.5), 150.0);  // b=200: 100 + 50
  EXPECT_DOUBLE_EQ(p.delay_ms(4, std::nullopt, 0.0), 125.0);  // b=400 capped to 250
  EXPECT_DOUBLE_EQ(p.delay_ms(60, std::nullopt, 1.0), 250.0); // no overflow far out
  // Retry-After replaces the backoff, capped at max_ms.
  EXPECT_DOUBLE_EQ(p.delay_ms(2, 80.0, 0.9), 80.0);
  EXPECT_DOUBLE_EQ(p.delay_ms(2, 5000.0, 0.9), 250.0);
  p.jitter = 0;
  EXPECT_DOUBLE_EQ(p.delay_ms(3, std::nullopt, 0.7), 200.0);
}

TEST(RetryPolicy, RetryAfterForms) {
  EXPECT_DOUBLE_EQ(*parse_retry_after_ms("2", 0), 2000.0);
  EXPECT_DOUBLE_EQ(*parse_retry_after_ms(" 0.5 ", 0), 500.0);
  EXPECT_FALSE(parse_retry_after_ms("soon", 0).has_value());
  EXPECT_FALSE(parse_retry_after_ms("-1", 0).has_value());
  EXPECT_FALSE(parse_retry_after_ms("", 0).has_value());
  // 2015-10-21 07:28:00 UTC = 1445412480 (python calendar.timegm); three seconds before it:
  EXPECT_DOUBLE_EQ(*parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412477), 3000.0);
  EXPECT_DOUBLE_EQ(*parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0.0);  // past → now
}

TEST(RetryPolicy, WhichFailuresRetry) {
  for (int s : {408, 409, 425, 429, 500, 502, 503, 504}) EXPECT_TRUE(http_status_retryable(s)) << s;
  for (int s : {400, 401, 403, 404, 422}) EXPECT_FALSE(http_status_retryable(s)) << s;
  EXPECT_TRUE(failure_retryable(FailureKind::timeout, 0));
  EXPECT_TRUE(failure_retryable(FailureKind::transport, 0));
  EXPECT_TRUE(failure_retryable(FailureKind::rate_limited, 429));
  EXPECT_TRUE(failure_retryable(FailureKind::http_status, 503));
  EXPECT_FALSE(failure_retryable(FailureKind::http_status, 400));
  EXPECT_FALSE(failure_retryable(FailureKind::auth, 401));
  EXPECT_FALSE(failure_retryable(FailureKind::not_found, 404));
}

TEST(RetryPolicy, FromJsonValidates) {
  auto p = retry_policy_from_json({{"max_attempts", 3}, {"base_ms", 5}}, RetryPolicy{}, "roles.yaml");
  EXPECT_EQ(p.max_attempts, 3);
  EXPECT_DOUBLE_EQ(p.base_ms, 5);
  EXPECT_DOUBLE_EQ(p.max_ms, RetryPolicy{}.max_ms);
  EXPECT_THROW(retry_policy_from_json({{"max_attempts", 0}}, RetryPolicy{}, "x"), ecpo::Error);
  EXPECT_THROW(retry_policy_from_json({{"jitter", 2}}, RetryPolicy{}, "x"), ecpo::Error);
  EXPECT_THROW(retry_policy_from_json({{"base_ms", "fast"}}, RetryPolicy{}, "x"), ecpo::Error);
}
