# Encoder / local backend / serve tests (model/bert-*, model/local-*, model/serve*). Test TUs include only
# torch-free public headers, so they compile quickly; ecpo_model brings libtorch at link time.
ecpo_test(ecpo_model_serve_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/serve-test.cpp
  LIBS ecpo_model PkgConfig::HTTPLIB)
ecpo_test(ecpo_model_encoder_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/encoder-test.cpp
  LIBS ecpo_model)
ecpo_test(ecpo_model_local_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/encoder-local-test.cpp
  LIBS ecpo_model PkgConfig::HTTPLIB)
