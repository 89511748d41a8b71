# WorkPool, the kernels (every ISA level on this CPU vs float64, determinism across batch shapes) and CausalLM's kernel
# forward vs the torch reference forward. Included by tests/model/CMakeLists.txt.
ecpo_test(test_model_decode
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/kernels-test.cpp ${CMAKE_CURRENT_LIST_DIR}/kernel-forward-test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/work-pool-test.cpp
  LIBS ecpo_model_torch ecpo_model ecpo_util ${TORCH_LIBRARIES})
