// Each module's verbs register themselves on the root CLI11 app through one function here.
// A verb is a thin main over library calls: parse flags, call the library, print a summary.
// Errors are thrown as ecpo::Error and printed by main.cpp as one line (no stack trace).
#pragma once
#include <CLI/CLI.hpp>

namespace ecpo::cli {

void register_data_commands(CLI::App& app);       // data synth, data import          (cmd-data.cpp)
void register_tasks_commands(CLI::App& app);      // tasks build                       (cmd-tasks.cpp)
void register_retrieval_commands(CLI::App& app);  // index build, retrieve             (cmd-retrieval.cpp)
void register_llm_commands(CLI::App& app);        // llm check, fake-server            (cmd-llm.cpp)
void register_model_commands(CLI::App& app);      // generate, logits, model init     (cmd-model.cpp)
void register_tokenize_commands(CLI::App& app);   // tokenize                          (cmd-tokenize.cpp)
void register_serve_commands(CLI::App& app);      // serve                             (cmd-serve.cpp)
void register_simulate_commands(CLI::App& app);   // simulate, simulate export         (cmd-simulate.cpp)
void register_persona_commands(CLI::App& app);    // persona build, persona diversity  (cmd-persona.cpp)
void register_chat_commands(CLI::App& app);       // chat                              (cmd-chat.cpp)
void register_sgpt_commands(CLI::App& app);       // sgpt                              (cmd-sgpt.cpp)
void register_rewrite_commands(CLI::App& app);    // rewrite                           (cmd-rewrite.cpp)
void register_pairs_commands(CLI::App& app);      // pairs export                      (cmd-pairs.cpp)
void register_judge_commands(CLI::App& app);      // judge                             (cmd-judge.cpp)
void register_report_commands(CLI::App& app);     // report                            (cmd-report.cpp)
void register_mtpo_commands(CLI::App& app);       // mtpo                              (cmd-mtpo.cpp)
void register_pipeline_commands(CLI::App& app);   // pipeline                          (cmd-pipeline.cpp)
void register_train_commands(CLI::App& app);      // train sft|dpo|kto|simpo|eval, model merge (cmd-train.cpp;
                                                  // after register_model_commands: merge joins `model`)

}  // namespace ecpo::cli
