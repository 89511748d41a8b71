// Prompt templates: text files under prompts/<module>/<domain>/<name>.txt with {{name}} placeholders,
// filled from a name → text map. Every placeholder must be given and every given name must occur, so a
// renamed variable fails loudly in tests instead of leaving "{{x}}" in a prompt. Loaded once and cached.
// Single braces (JSON examples in prompts) are left alone.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::sim {

using TemplateVars = std::map<std::string, std::string>;

// Fills {{name}} placeholders; throws ecpo::Error naming `where` and the missing/unused name.
std::string fill_template(std::string_view tmpl, const TemplateVars& vars, const std::string& where);

// prompts/<module>/<domain>/<name>.txt without its final newline, read once per process (thread-safe) — throws ecpo::Error with a
// hint naming the domains that exist when the file is absent.
const std::string& domain_prompt(const std::string& module, const std::string& domain, const std::string& name);

// domain_prompt + fill_template.
std::string render_domain_prompt(const std::string& module, const std::string& domain, const std::string& name,
                                 const TemplateVars& vars);

// The domains a module has prompts for (sub-directories of prompts/<module>/), sorted.
std::vector<std::string> prompt_domains(const std::string& module);

}  // namespace ecpo::sim
