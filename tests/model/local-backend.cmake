# The "local" llm backend registered from model/ and used through a roles file (llm/roles.h).
ecpo_test(ecpo_model_local_backend_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/local-backend-test.cpp
  LIBS ecpo_model)
