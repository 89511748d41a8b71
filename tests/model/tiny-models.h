// Random `tiny` preset models (model_init, seed 7; Llama and Qwen2), written once per test binary into a
// temporary directory that is removed when the binary exits. A GoogleTest environment registered by including
// this header, for the test files that need a real model directory (model_init trains a small BPE: do it once).
#pragma once
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "model/model-init.h"
#include "test-support.h"

namespace ecpo::test {

class TinyModels : public ::testing::Environment {
 public:
  static std::filesystem::path root() { return temp().path(); }
  static std::filesystem::path dir(const std::string& arch = "llama") { return root() / arch; }
  void SetUp() override {
    for (const char* arch : {"llama", "qwen2"})
      ecpo::model::model_init(dir(arch), ecpo::model::init_spec_preset("tiny", arch), /*seed=*/7);
  }

 private:
  static TempDir& temp() {
    static TempDir t;  // removed at exit
    return t;
  }
};

inline const ::testing::Environment* const kTinyModelsEnv = ::testing::AddGlobalTestEnvironment(new TinyModels);

}  // namespace ecpo::test
