"""`kollama serve`: kollama's models, lock and RAG over OpenAI- and Ollama-compatible HTTP, plus a web page."""
