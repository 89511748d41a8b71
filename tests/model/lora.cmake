# LoRA adapter tests (model/lora-adapter, the merge in model/llama.cpp, --adapter on the CLI) against the
# independent Python golden tests/assets/model/golden_lora.json. Included by tests/model/CMakeLists.txt.
ecpo_test(test_model_lora
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/lora-test.cpp
  LIBS ecpo_model ecpo_util)
