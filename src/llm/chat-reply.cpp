// parse_chat_reply (see chat-reply.h): a SAX handler that tracks the path of the value being read (a small stack
// of frames: object with its current key, or array with its current index) and keeps only the wanted values.
#include "llm/chat-reply.h"

#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::llm {
namespace {

enum class Key : std::uint8_t { other, choices, message, content, finish_reason, usage, prompt_tokens, completion_tokens };

Key classify(const std::string& k) {
  switch (k.size()) {
    case 5: return k == "usage" ? Key::usage : Key::other;
    case 7:
      if (k == "choices") return Key::choices;
      if (k == "message") return Key::message;
      if (k == "content") return Key::content;
      return Key::other;
    case 13: return k == "finish_reason" ? Key::finish_reason : k == "prompt_tokens" ? Key::prompt_tokens : Key::other;
    case 17: return k == "completion_tokens" ? Key::completion_tokens : Key::other;
    default: return Key::other;
  }
}

struct Frame {
  bool array = false;
  Key key = Key::other;   // objects: the key whose value is being read
  std::size_t index = 0;  // arrays: the index of the element being read
};

class ReplySax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit ReplySax(ChatReplyFields& f) : f_(f) { st_.reserve(16); }

  bool null() override {
    if (at_content()) set_content(true, "");
    else if (at_finish()) f_.finish_reason.clear();
    else if (Key k = at_usage_field(); k != Key::other) token(k) = 0;
    return scalar_done();
  }
  bool boolean(bool) override { return other_scalar(); }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return integer(v > static_cast<number_unsigned_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v));
  }
  bool number_float(number_float_t, const string_t&) override { return other_scalar(); }
  bool string(string_t& v) override {
    if (at_content()) set_content(true, v);
    else if (at_finish()) f_.finish_reason = v;
    else if (Key k = at_usage_field(); k != Key::other) token(k) = 0;
    return scalar_done();
  }
  bool binary(binary_t&) override { return other_scalar(); }

  bool start_object(std::size_t) override {
    if (st_.empty()) root_object_ = true;
    else if (at_choice0()) reset_choice();
    else if (at_message()) set_content(false, "");
    else if (at_usage()) f_.prompt_tokens = f_.completion_tokens = 0;
    else container_at_leaf();
    st_.push_back({false, Key::other, 0});
    return true;
  }
  bool key(string_t& k) override {
    st_.back().key = classify(k);
    return true;
  }
  bool end_object() override { return pop(); }
  bool start_array(std::size_t) override {
    if (at_choices()) reset_choice();
    else container_at_leaf();
    st_.push_back({true, Key::other, 0});
    return true;
  }
  bool end_array() override { return pop(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  bool root_object() const { return root_object_; }

 private:
  // Where the value about to be read sits.
  bool obj_key(std::size_t i, Key k) const { return !st_[i].array && st_[i].key == k; }
  bool at_choices() const { return st_.size() == 1 && obj_key(0, Key::choices); }
  bool at_choice0() const { return st_.size() == 2 && obj_key(0, Key::choices) && st_[1].array && st_[1].index == 0; }
  bool in_choice0(std::size_t depth) const {
    return st_.size() == depth && obj_key(0, Key::choices) && st_[1].array && st_[1].index == 0 && !st_[2].array;
  }
  bool at_message() const { return in_choice0(3) && st_[2].key == Key::message; }
  bool at_finish() const { return in_choice0(3) && st_[2].key == Key::finish_reason; }
  bool at_content() const { return in_choice0(4) && st_[2].key == Key::message && obj_key(3, Key::content); }
  bool at_usage() const { return st_.size() == 1 && obj_key(0, Key::usage); }
  Key at_usage_field() const {
    if (st_.size() != 2 || !obj_key(0, Key::usage) || st_[1].array) return Key::other;
    return st_[1].key == Key::prompt_tokens || st_[1].key == Key::completion_tokens ? st_[1].key : Key::other;
  }
  std::int64_t& token(Key k) { return k == Key::prompt_tokens ? f_.prompt_tokens : f_.completion_tokens; }

  void set_content(bool has, std::string_view text) {
    f_.has_content = has;
    f_.content.assign(text);
  }
  void reset_choice() {
    set_content(false, "");
    f_.finish_reason.clear();
  }
  // A container where a wanted scalar was expected: the last value there is not a string/integer.
  void container_at_leaf() {
    if (at_content()) set_content(false, "");
    else if (at_finish()) f_.finish_reason.clear();
    else if (Key k = at_usage_field(); k != Key::other) token(k) = 0;
    else if (at_message()) set_content(false, "");  // message is not an object
    else if (at_usage()) f_.prompt_tokens = f_.completion_tokens = 0;
    else if (at_choices() || at_choice0()) reset_choice();
  }
  bool integer(std::int64_t v) {
    if (Key k = at_usage_field(); k != Key::other) {
      token(k) = v < 0 ? 0 : v;  // a server's negative count must not turn into a negative cost
      return scalar_done();
    }
    return other_scalar();
  }
  bool other_scalar() {
    container_at_leaf();  // same rule: a wrong-typed value replaces the wanted one
    return scalar_done();
  }
  bool scalar_done() {
    if (!st_.empty() && st_.back().array) ++st_.back().index;
    return true;
  }
  bool pop() {
    st_.pop_back();
    return scalar_done();
  }

  ChatReplyFields& f_;
  std::vector<Frame> st_;
  bool root_object_ = false;
};

}  // namespace

ChatReplyFields parse_chat_reply(std::string_view body) {
  ChatReplyFields f;
  ReplySax sax(f);
  const bool ok = nlohmann::json::sax_parse(body.begin(), body.end(), &sax);
  if (!ok || !sax.root_object()) return ChatReplyFields{};
  f.json_ok = true;
  return f;
}

}  // namespace ecpo::llm
