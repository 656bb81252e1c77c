# Included after each project() of llama-cpp-python's build (CMAKE_PROJECT_INCLUDE, set by the Makefile).
# llama-cpp-python forces llama.cpp's `common` library on (a cache variable set with FORCE), but its Python
# package never loads it: only libllama and ggml. A normal variable of the same name shadows the cache entry
# for llama.cpp's CMakeLists (policies CMP0126 and CMP0077), so `common`, and the HTTP library only it needs,
# are not compiled.
set(LLAMA_BUILD_COMMON OFF)
