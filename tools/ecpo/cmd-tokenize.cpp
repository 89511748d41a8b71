// CLI verb: tokenize (see commands.h). Thin: flags → tokenizer/tokenizer.h + chat-template.h → output.
//   ecpo tokenize --tokenizer PATH (--text "…" | --file F) [--pieces] [--add-special] [--parse-special] [--json]
//   ecpo tokenize --tokenizer PATH --messages chat.json [--template llama3] [--generation-prompt]
//   ecpo tokenize --tokenizer PATH --decode "9906 1917"
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"
#include "tokenizer/chat-template.h"
#include "tokenizer/tokenizer.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/text.h"

namespace ecpo::cli {

namespace {

struct TokenizeArgs {
  std::string tokenizer, text, file, messages, chat_template, decode;
  bool text_set = false, pieces = false, add_special = false, parse_special = false, json_out = false,
       generation_prompt = false;
};

std::vector<tok::TokenId> parse_ids(const std::string& s) {
  std::vector<tok::TokenId> ids;
  std::string cleaned = s;
  for (char& c : cleaned)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(cleaned);
  std::string tok;
  while (in >> tok) {
    try {
      std::size_t used = 0;
      long v = std::stol(tok, &used);
      if (used != tok.size()) throw std::invalid_argument(tok);
      ids.push_back(static_cast<tok::TokenId>(v));
    } catch (const std::exception&) {
      throw Error("'" + tok + "' is not a token id", "--decode", "pass ids separated by spaces or commas");
    }
  }
  return ids;
}

void run_tokenize(const TokenizeArgs& a) {
  auto tok = tok::load_tokenizer(a.tokenizer);
  if (!a.decode.empty()) {
    std::string text = tok->decode(parse_ids(a.decode));
    if (a.json_out) std::cout << nlohmann::json{{"text", utf8_sanitize(text)}}.dump() << "\n";  // JSON needs UTF-8
    else std::cout << text << "\n";
    return;
  }
  std::vector<tok::TokenId> ids;
  std::vector<std::uint8_t> mask;
  std::string rendered;
  if (!a.messages.empty()) {
    json j = read_json_file(a.messages);
    if (j.is_object() && j.contains("messages")) j = j["messages"];
    auto msgs = llm::messages_from_json(j);
    auto tmpl = a.chat_template.empty() ? tok::ChatTemplate::for_tokenizer(*tok)
                                        : tok::ChatTemplate::named(a.chat_template);
    rendered = tmpl.render(msgs, a.generation_prompt);
    auto r = tmpl.render_ids(*tok, msgs, a.generation_prompt);
    ids = std::move(r.ids);
    mask = std::move(r.mask);
  } else {
    if (!a.text_set && a.file.empty())
      throw Error("nothing to tokenize", "tokenize", "pass --text, --file, --messages or --decode");
    const std::string text = a.file.empty() ? a.text : read_file(a.file);
    ids = tok->encode(text, tok::EncodeOptions{a.add_special, a.parse_special});
  }
  if (a.json_out) {
    nlohmann::json out{{"ids", ids}, {"count", ids.size()}};
    if (!mask.empty()) {
      out["mask"] = mask;
      out["text"] = rendered;
    }
    if (a.pieces) {
      nlohmann::json p = nlohmann::json::array();
      for (auto id : ids) p.push_back(tok::escape_bytes(tok->decode_piece(id)));
      out["pieces"] = p;
    }
    std::cout << out.dump() << "\n";
    return;
  }
  if (a.pieces) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::cout << ids[i] << "\t" << tok::escape_bytes(tok->decode_piece(ids[i]));
      if (!mask.empty()) std::cout << "\t" << int(mask[i]);
      std::cout << "\n";
    }
    return;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
  std::cout << "\n";
}

}  // namespace

void register_tokenize_commands(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "encode text (or a chat) to token ids, or decode ids to text");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "model directory, tokenizer.json, tiktoken tokenizer.model, BERT vocab.txt or byte-level BPE .gguf")
      ->required();
  auto* text = cmd->add_option("--text", args->text, "text to encode");
  cmd->add_option("--file", args->file, "encode the whole content of this file (bytes as they are)")->excludes(text);
  cmd->add_option("--messages", args->messages, "JSON file: [{\"role\",\"content\"}…] or {\"messages\": […]}")
      ->excludes(text);
  cmd->add_option("--template", args->chat_template,
                  "chat template for --messages: llama3, llama3.1, chatml, qwen2, qwen2.5 (default: from tokenizer)");
  cmd->add_flag("--generation-prompt", args->generation_prompt, "append the assistant header (--messages)");
  cmd->add_option("--decode", args->decode, "token ids to decode (space or comma separated)")->excludes(text);
  cmd->add_flag("--pieces", args->pieces, "print one token per line: id, piece bytes escaped (and mask for chats)");
  cmd->add_flag("--add-special", args->add_special, "add BOS / [CLS] … [SEP] as the model does");
  cmd->add_flag("--parse-special", args->parse_special, "treat special-token text such as <|eot_id|> as the token");
  cmd->add_flag("--json", args->json_out, "print one JSON object: ids, count (pieces, mask, text)");
  cmd->callback([args, text] {
    args->text_set = text->count() > 0;
    run_tokenize(*args);
  });
}

}  // namespace ecpo::cli
