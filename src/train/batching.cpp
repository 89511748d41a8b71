// Epoch planning (see batching.h).
#include "train/batching.h"

#include <algorithm>
#include <numeric>

#include "util/rng.h"

namespace ecpo::train {

std::size_t StepPlan::examples() const {
  std::size_t n = 0;
  for (const auto& m : micro) n += m.size();
  return n;
}

std::int64_t steps_per_epoch(std::size_t n, std::int64_t batch_size, std::int64_t grad_accum) {
  const std::int64_t eff = std::max<std::int64_t>(1, batch_size * grad_accum);
  return (static_cast<std::int64_t>(n) + eff - 1) / eff;
}

namespace {

void shuffle(std::vector<std::size_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

void sort_by_length_desc(std::vector<std::size_t>& v, const std::vector<std::int64_t>& len, std::size_t b,
                         std::size_t e) {
  std::stable_sort(v.begin() + static_cast<std::ptrdiff_t>(b), v.begin() + static_cast<std::ptrdiff_t>(e),
                   [&](std::size_t x, std::size_t y) { return len[x] > len[y]; });
}

}  // namespace

std::vector<StepPlan> plan_epoch(const std::vector<std::int64_t>& lengths, std::int64_t batch_size,
                                 std::int64_t grad_accum, std::uint64_t seed, std::int64_t epoch,
                                 bool group_by_length) {
  const std::size_t n = lengths.size();
  const std::size_t bs = static_cast<std::size_t>(std::max<std::int64_t>(1, batch_size));
  const std::size_t eff = bs * static_cast<std::size_t>(std::max<std::int64_t>(1, grad_accum));
  Rng rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch) + 1);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, rng);
  if (group_by_length) {
    const std::size_t mega = eff * 50;
    for (std::size_t b = 0; b < n; b += mega) sort_by_length_desc(order, lengths, b, std::min(n, b + mega));
  }
  std::vector<StepPlan> steps;
  for (std::size_t b = 0; b < n; b += eff) {
    const std::size_t e = std::min(n, b + eff);
    std::vector<std::size_t> ex(order.begin() + static_cast<std::ptrdiff_t>(b), order.begin() + static_cast<std::ptrdiff_t>(e));
    // Inside a step: longest first, so each micro-batch pads to similar lengths (the update does not depend
    // on the order, only on the set).
    std::stable_sort(ex.begin(), ex.end(), [&](std::size_t x, std::size_t y) {
      return lengths[x] != lengths[y] ? lengths[x] > lengths[y] : x < y;
    });
    StepPlan s;
    for (std::size_t m = 0; m < ex.size(); m += bs)
      s.micro.emplace_back(ex.begin() + static_cast<std::ptrdiff_t>(m),
                           ex.begin() + static_cast<std::ptrdiff_t>(std::min(ex.size(), m + bs)));
    steps.push_back(std::move(s));
  }
  if (group_by_length) {  // the sorted mega-batches put long steps together: visit the steps in random order
    std::vector<std::size_t> idx(steps.size());
    std::iota(idx.begin(), idx.end(), 0);
    shuffle(idx, rng);
    std::vector<StepPlan> out;
    out.reserve(steps.size());
    for (auto i : idx) out.push_back(std::move(steps[i]));
    steps = std::move(out);
  }
  return steps;
}

std::vector<std::vector<std::size_t>> plan_eval(const std::vector<std::int64_t>& lengths, std::int64_t batch_size,
                                                std::int64_t max_tokens) {
  const std::size_t n = lengths.size();
  const std::size_t bs = static_cast<std::size_t>(std::max<std::int64_t>(1, batch_size));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const std::size_t window = bs * 64;
  for (std::size_t b = 0; b < n; b += window) sort_by_length_desc(order, lengths, b, std::min(n, b + window));
  std::vector<std::vector<std::size_t>> out;
  std::int64_t longest = 0;
  for (std::size_t i : order) {
    const bool fits = !out.empty() && out.back().size() < bs &&
                      static_cast<std::int64_t>(out.back().size() + 1) * std::max(longest, lengths[i]) <= max_tokens;
    if (!fits) out.emplace_back(), longest = 0;
    out.back().push_back(i);
    longest = std::max(longest, lengths[i]);
  }
  return out;
}

}  // namespace ecpo::train
