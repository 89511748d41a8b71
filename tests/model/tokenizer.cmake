# Tokenizer and chat-template tests (torch-free code in src/model/tokenizer-*, chat-template.*).
ecpo_test(test_tokenizer
  SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-llama3-test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-wordpiece-test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-hf-test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-gguf-test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-chat-test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer-cli-test.cpp
  LIBS ecpo_model ecpo_util)
