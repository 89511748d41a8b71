// {{name}} template filling and the per-domain prompt cache (see prompt-template.h).
#include "sim/prompt-template.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>
#include <vector>

#include "llm/prompts-dir.h"
#include "util/error.h"

namespace ecpo::sim {

std::string fill_template(std::string_view tmpl, const TemplateVars& vars, const std::string& where) {
  std::string out;
  out.reserve(tmpl.size() + 256);
  std::set<std::string> used;
  std::size_t pos = 0;
  for (;;) {
    std::size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) throw Error("unclosed '{{' in prompt template", where, "close it with }}");
    out.append(tmpl.substr(pos, open - pos));
    std::string name(tmpl.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end())
      throw Error("prompt template uses {{" + name + "}} but no value was given", where,
                  "fix the placeholder's name in the prompt file");
    out += it->second;
    used.insert(name);
    pos = close + 2;
  }
  for (const auto& [name, value] : vars)
    if (!used.count(name))
      throw Error("prompt template lacks the placeholder {{" + name + "}}", where,
                  "the prompt must show this input to the model; add {{" + name + "}} to the file");
  return out;
}

namespace {
std::mutex g_mu;
std::map<std::string, std::string> g_cache;
}  // namespace

std::vector<std::string> prompt_domains(const std::string& module) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(llm::prompts_dir() / module, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

const std::string& domain_prompt(const std::string& module, const std::string& domain, const std::string& name) {
  std::string rel = module + "/" + domain + "/" + name + ".txt";
  std::lock_guard lk(g_mu);
  auto it = g_cache.find(rel);
  if (it != g_cache.end()) return it->second;
  if (!std::filesystem::exists(llm::prompts_dir() / rel)) {
    std::string have;
    for (const auto& d : prompt_domains(module)) have += (have.empty() ? "" : ", ") + d;
    throw Error("no prompt '" + name + "' for domain '" + domain + "'", (llm::prompts_dir() / rel).string(),
                "domains with " + module + " prompts: " + (have.empty() ? "none" : have));
  }
  std::string text = llm::load_prompt(rel);
  if (!text.empty() && text.back() == '\n') text.pop_back();  // files end with a newline; prompts do not
  return g_cache.emplace(rel, std::move(text)).first->second;
}

std::string render_domain_prompt(const std::string& module, const std::string& domain, const std::string& name,
                                 const TemplateVars& vars) {
  return fill_template(domain_prompt(module, domain, name), vars, module + "/" + domain + "/" + name + ".txt");
}

}  // namespace ecpo::sim
