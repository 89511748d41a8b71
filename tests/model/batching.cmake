# Continuous batching and prefix reuse (BatchScheduler) against solo generation on the tiny models. Torch-free.
# Included by tests/model/CMakeLists.txt.
ecpo_test(test_model_batching
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/batch-scheduler-test.cpp
  LIBS ecpo_model ecpo_util)
