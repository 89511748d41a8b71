// Training datasets, torch-free: rows of a JSONL (or JSON-array) file in ecpo's, TRL's or LLaMA-Factory's
// format (training-reference.md §15), detected from the first row or named with data_format, tokenised with
// the model's chat template into sequences whose mask is 1 exactly on the tokens the loss sees (assistant
// content + its end-of-turn token). Examples longer than cutoff_len are dropped and counted, never truncated
// (the project rule of training-reference.md §1); a prompt that alone reaches cutoff_len is an error unless
// skip_long_prompts. Bad rows throw ecpo::Error naming file:line and a hint. Not here: batching (batching.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "llm/chat-model.h"
#include "tokenizer/chat-template.h"
#include "tokenizer/tokenizer.h"

namespace ecpo::train {

// One tokenised sequence; mask[t] = 1 when token t is a completion token (predicted from position t − 1,
// trained and scored). mask[0] is always 0.
struct TokenSeq {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> mask;
  std::int64_t completion_tokens() const;
};

// What the objective consumes: SFT sequences, preference pairs, or labelled (KTO) completions.
enum class DataKind { sft, pair, kto };
std::string data_kind_name(DataKind k);

struct SftExample {
  TokenSeq seq;
  std::string where;  // "file:line" of the source row, for messages
};

struct PairExample {
  TokenSeq chosen, rejected;  // prompt + completion each; the masks cover only the completions
  std::int64_t prompt_tokens = 0;
  std::string where;
};

struct KtoExample {
  TokenSeq seq;       // prompt + completion
  TokenSeq kl_seq;    // this prompt + another row's completion (KL estimate), set by kto_pair_kl
  bool desirable = true;
  std::int64_t prompt_tokens = 0;
  std::string where;
};

struct DataOptions {
  // auto | ecpo | trl | alpaca | sharegpt | tokenized  (tokenized = TRL's processed columns: input_ids +
  // completion_mask; prompt_input_ids + chosen_input_ids + rejected_input_ids; + completion_input_ids + label).
  std::string format = "auto";
  std::string chat_template;       // empty = the tokenizer's (llama3 or chatml)
  std::int64_t cutoff_len = 2048;  // examples with more tokens are dropped; 0 = no limit
  bool skip_long_prompts = false;  // drop (instead of refusing) rows whose prompt alone reaches cutoff_len
};

struct Dataset {
  DataKind kind = DataKind::sft;
  std::string format;          // detected family: ecpo | trl | alpaca | sharegpt | tokenized
  std::string chat_template;   // template used (empty for tokenized rows)
  std::vector<SftExample> sft;
  std::vector<PairExample> pairs;
  std::vector<KtoExample> kto;
  std::uint64_t rows = 0;                    // rows read
  std::uint64_t dropped_long = 0;            // over cutoff_len, dropped
  std::vector<std::string> dropped_where;    // the first few dropped rows ("file:line")
  std::size_t size() const;
};

// Reads `path` for an objective needing `want`. KTO also accepts preference rows (each pair becomes a
// desirable and an undesirable example: all chosen first, then all rejected, as trl's unpair does).
// `tokenizer` may be null only for tokenized rows. Throws ecpo::Error (file:line, hint) on bad rows, on a
// format that does not hold `want`, and when no example is left.
Dataset load_dataset(const std::filesystem::path& path, DataKind want, const tok::Tokenizer* tokenizer,
                     const DataOptions& options);

// KTO's KL rows (trl kto_trainer _get_kl_dataset): within consecutive chunks of `batch_size` examples in
// dataset order, example i's kl_seq is its own prompt followed by the completion of example i − 1 (rotated;
// the first takes the chunk's last). Spliced at token level, which is exact because the template encodes
// the prompt and the completion as separate segments.
void kto_pair_kl(Dataset& data, std::int64_t batch_size);

// The ids of one rendered conversation split at the last assistant turn (helper shared with tests):
// prompt = render(messages[0..n-1], generation prompt), full = render(messages); the mask covers the last
// assistant turn only. Throws when the prompt ids are not a prefix of the full ids.
TokenSeq render_completion(const tok::ChatTemplate& tmpl, const tok::Tokenizer& tokenizer,
                           const std::vector<llm::Message>& prompt, const std::string& completion,
                           std::int64_t* prompt_tokens);

}  // namespace ecpo::train
