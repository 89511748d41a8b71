// Registers the built-in CPU engine as the llm "local" backend, so any role in a roles file can run on a
// Hugging Face model directory:   roles: {agent: {backend: local, model: models/tiny, params: {...}}}
// Role settings read here: model (the model directory), model_name, adapter, dtype, threads, chat_template.
// Cache and accounting wrap it exactly as they wrap the HTTP backend (llm/roles.h). Torch-free header.
#pragma once

namespace ecpo::model {

// Idempotent; call once at start-up before building a llm::RoleSet (the ecpo binary does it in main).
void register_local_backend();

}  // namespace ecpo::model
