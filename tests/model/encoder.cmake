# Encoder / local backend tests (model/bert-*, model/local-*; the chat server's own tests are in tests/llm).
# Test TUs include only torch-free public headers, so they compile quickly; ecpo_model brings libtorch at link.
ecpo_test(ecpo_model_encoder_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/encoder-test.cpp
  LIBS ecpo_model)
ecpo_test(ecpo_model_local_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/encoder-local-test.cpp
  LIBS ecpo_model PkgConfig::HTTPLIB)
