# Engine tests (safetensors, config, RoPE, sampler, generate loop, Llama/Qwen2 forward vs Python goldens,
# KV-cache equivalence, model init, llama2.c parity, CLI verbs). Included by tests/model/CMakeLists.txt.
ecpo_test(test_model_engine
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/engine-safetensors-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-config-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-sampler-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-forward-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-init-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-cli-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine-torch-util-test.cpp
  LIBS ecpo_model_torch ecpo_model ecpo_util ${TORCH_LIBRARIES})
