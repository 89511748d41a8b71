# Live streaming: the generate loop's token events on a scripted mock model (fast, no weights), and
# LocalChatModel on_delta / `ecpo serve` SSE / `ecpo generate` on the random tiny preset.
ecpo_test(ecpo_model_stream_generate_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/streaming-generate-test.cpp
  LIBS ecpo_model)
ecpo_test(ecpo_model_stream_serve_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/streaming-serve-test.cpp
  LIBS ecpo_model PkgConfig::HTTPLIB)
