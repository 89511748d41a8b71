// Fuzz target: the project's record readers (data/types.h) on each line of the input, as an items.jsonl, a
// users.jsonl and a tasks_*.jsonl line in turn; a record that reads must also write back as JSON.
#include <string>

#include "data/types.h"
#include "fuzz-support.h"
#include "util/json-read.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view all = ecpo::fuzz::text(data, size);
  std::size_t lineno = 0;
  for (std::size_t b = 0; b <= all.size();) {
    std::size_t e = all.find('\n', b);
    if (e == std::string_view::npos) e = all.size();
    std::string_view line = all.substr(b, e - b);
    b = e + 1;
    const std::string where = "records.jsonl:" + std::to_string(++lineno);
    ecpo::fuzz::located_or_abort([&] {
      auto j = ecpo::parse_json_text(line, where);
      ecpo::fuzz::located_or_abort([&] {
        auto it = ecpo::data::item_from_json(j, where);
        (void)ecpo::data::item_text(it);
        (void)ecpo::data::to_json(it).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      });
      ecpo::fuzz::located_or_abort([&] {
        auto u = ecpo::data::user_from_json(j, where);
        (void)ecpo::data::to_json(u).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      });
      ecpo::fuzz::located_or_abort([&] {
        auto t = ecpo::data::task_from_json(j, where);
        (void)ecpo::data::to_json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      });
    });
  }
  return 0;
}
