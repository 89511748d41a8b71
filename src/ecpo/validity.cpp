// Rewrite validity checks (see validity.h).
#include "ecpo/validity.h"

#include <algorithm>

#include "sim/title-match.h"
#include "util/text.h"

namespace ecpo::pref {

const std::vector<std::string>& rejection_reasons() {
  static const std::vector<std::string> v = {"not_one_action", "type_changed", "unchanged",     "edit_too_large",
                                             "target_leak",    "unknown_title", "rewriter_error"};
  return v;
}

std::vector<std::string> edit_tokens(std::string_view text) { return split(collapse_whitespace(text), ' '); }

std::size_t token_edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double edit_ratio(std::string_view original, std::string_view rewrite) {
  auto a = edit_tokens(original), b = edit_tokens(rewrite);
  return static_cast<double>(token_edit_distance(a, b)) / static_cast<double>(std::max<std::size_t>(1, a.size()));
}

std::vector<std::string> quoted_spans(std::string_view text) {
  struct Q {
    std::string_view open, close;
  };
  static const Q quotes[] = {{"\"", "\""}, {"\xE2\x80\x9C", "\xE2\x80\x9D"}, {"\xC2\xAB", "\xC2\xBB"}};
  std::vector<std::pair<std::size_t, std::string>> found;
  for (const auto& q : quotes) {
    std::size_t pos = 0;
    for (;;) {
      auto a = text.find(q.open, pos);
      if (a == std::string_view::npos) break;
      auto b = text.find(q.close, a + q.open.size());
      if (b == std::string_view::npos) break;
      std::string span = trim(text.substr(a + q.open.size(), b - a - q.open.size()));
      if (!span.empty()) found.emplace_back(a, span);
      pos = b + q.close.size();
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool span_is_known_title(const std::string& span, const std::vector<std::string>& titles, double threshold) {
  const std::string ns = normalize_title(span);
  if (ns.empty()) return false;
  for (const auto& t : titles)
    for (const auto& v : sim::title_variants(t)) {
      if (v == ns) return true;
      if (sim::token_sort_ratio(ns, v) >= threshold) return true;
    }
  return false;
}

Verdict check_rewrite(const Candidate& c, const std::string& refinement, const sim::ItemCatalog* catalog,
                      const ValidityOptions& o) {
  Verdict v;
  auto reject = [&](const char* reason, std::string detail) {
    v.ok = false;
    v.reason = reason;
    v.detail = std::move(detail);
    return v;
  };
  std::string text = trim(refinement);
  std::optional<agent::Action> a;
  if (c.action) {
    std::string err;
    a = agent::parse_action(text, &err);
    if (!a) return reject("not_one_action", err.empty() ? "does not parse as one action" : err);
    if (a->type != c.action->type)
      return reject("type_changed", std::string(agent::action_type_keyword(c.action->type)) + " became " +
                                        agent::action_type_keyword(a->type));
    text = agent::format_action(*a);
  } else if (text.empty()) {
    return reject("not_one_action", "empty reply");
  }
  const std::string orig = candidate_action_text(c);
  if (collapse_whitespace(orig) == collapse_whitespace(text)) return reject("unchanged", "same text as the original");
  v.edit_ratio = edit_ratio(orig, text);
  if (v.edit_ratio > o.max_edit_ratio) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "token edit ratio %.2f > %.2f", v.edit_ratio, o.max_edit_ratio);
    return reject("edit_too_large", buf);
  }
  const std::string arg = a ? a->argument : text;
  if (catalog && !c.target_item_id.empty()) {
    if (const data::Item* target = catalog->find(c.target_item_id)) {
      const std::string orig_arg = c.action ? c.action->argument : c.original;
      if (sim::text_names_title(arg, target->title, o.title_threshold) &&
          !sim::text_names_title(orig_arg, target->title, o.title_threshold))
        return reject("target_leak", "names the target \"" + target->title + "\", which the original did not");
    }
  }
  const bool recommends = a ? a->type == agent::ActionType::recommend : false;
  if (recommends) {
    std::vector<std::string> titles;
    for (const auto& id : c.retrieved)
      if (catalog && catalog->find(id)) titles.push_back(catalog->find(id)->title);
    for (const auto& id : c.earlier_retrieved)
      if (catalog && catalog->find(id)) titles.push_back(catalog->find(id)->title);
    if (catalog)
      for (const auto& it : catalog->items()) titles.push_back(it.title);
    std::vector<std::string> spans = quoted_spans(arg);
    if (!spans.empty()) {
      for (const auto& s : spans)
        if (!span_is_known_title(s, titles, o.title_threshold))
          return reject("unknown_title", "\"" + s + "\" is in neither the item database nor the retrieved results");
    } else {
      bool any = false;
      for (const auto& t : titles)
        if (sim::text_names_title(arg, t, o.title_threshold)) {
          any = true;
          break;
        }
      if (!any) return reject("unknown_title", "the recommendation names no item of the database or the results");
    }
  }
  return v;
}

}  // namespace ecpo::pref
