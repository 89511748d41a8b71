# WorkPool, decode kernels (every ISA level on this CPU vs float64) and the CausalLM single-token decode path vs the full
# torch forward. Included by tests/model/CMakeLists.txt.
ecpo_test(test_model_decode
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/decode-kernels-test.cpp ${CMAKE_CURRENT_LIST_DIR}/work-pool-test.cpp
  LIBS ecpo_model ecpo_util ${TORCH_LIBRARIES})
