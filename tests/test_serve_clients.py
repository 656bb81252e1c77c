"""The agent frameworks' own clients against a real `kollama serve` (no mocks): LangChain's ChatOllama and
ChatOpenAI, LlamaIndex's Ollama LLM, and their embeddings: invoke, stream, bind_tools (with a tool_choice),
with_structured_output (default method and function_calling), embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "clients.log"
    with Server("--model", "smollm2", "--max-tokens", "120", "--no-log", "--no-rag", log=log) as s:
        yield s


def get_weather(city: str) -> str:
    """현재 날씨를 알려 준다 (the current weather of a city)."""
    return f"{city}: 맑음"


def _chat_models(server, max_tokens: int = 12):
    from langchain_ollama import ChatOllama
    from langchain_openai import ChatOpenAI

    return {"ollama": ChatOllama(model="smollm2", base_url=server.url, temperature=0, num_predict=max_tokens),
            "openai": ChatOpenAI(model="smollm2", base_url=server.url + "/v1", api_key="x", temperature=0,
                                 max_tokens=max_tokens, max_retries=0, timeout=300)}


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_langchain_invoke_stream_and_bind_tools(server, kind):
    model = _chat_models(server)[kind]
    answer = model.invoke("한국의 수도는 어디인가요?")
    assert answer.content.strip()
    pieces = [chunk.content for chunk in model.stream("한국의 수도는 어디인가요?")]
    assert len([p for p in pieces if p]) >= 2 and "".join(pieces).strip()
    with_tools = model.bind_tools([get_weather])  # auto: the model may or may not call it
    reply = with_tools.invoke("서울 날씨 알려줘")
    assert reply.content.strip() or reply.tool_calls
    for call in reply.tool_calls:
        assert call["name"] == "get_weather" and isinstance(call["args"], dict)


def test_langchain_embeddings_from_both_clients(server):
    from langchain_ollama import OllamaEmbeddings
    from langchain_openai import OpenAIEmbeddings

    texts = ["서울은 대한민국의 수도이다.", "고양이가 잔다."]
    by_ollama = np.array(OllamaEmbeddings(model="multilingual-e5-small", base_url=server.url).embed_documents(texts))
    # check_embedding_ctx_length=False: otherwise the client counts tokens with tiktoken's downloaded files
    by_openai = np.array(OpenAIEmbeddings(model="multilingual-e5-small", base_url=server.url + "/v1", api_key="x",
                                          check_embedding_ctx_length=False).embed_documents(texts))
    assert by_ollama.shape == by_openai.shape == (2, 384)
    assert np.allclose(by_ollama, by_openai, atol=1e-4)
    query = OllamaEmbeddings(model="multilingual-e5-small:latest", base_url=server.url).embed_query("한국의 수도")
    assert float(np.dot(query, by_ollama[0])) > float(np.dot(query, by_ollama[1]))


def test_llamaindex_ollama_complete_chat_and_stream(server):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.ollama import Ollama

    llm = Ollama(model="smollm2", base_url=server.url, request_timeout=300, temperature=0,
                 additional_kwargs={"num_predict": 12})
    assert llm.complete("한국의 수도는").text.strip()
    assert llm.chat([ChatMessage(role="user", content="안녕하세요")]).message.content.strip()
    streamed = [r.delta for r in llm.stream_complete("서울은") if r.delta]
    assert len(streamed) >= 2


def test_langchain_structured_output_default_method(server):
    City = _city_model()
    models = _chat_models(server, max_tokens=100)
    for kind, model in models.items():
        answer = model.with_structured_output(City).invoke("서울은 어느 나라의 도시인가요? JSON으로 답하세요.")
        assert isinstance(answer, City), (kind, answer)


def _city_model():
    from pydantic import BaseModel, Field

    class City(BaseModel):
        """A city and its country."""

        city: str = Field(max_length=8)
        country: str = Field(max_length=8)

    return City


@pytest.mark.parametrize("tool_choice", ["get_weather", "required", "any"])
def test_langchain_bind_tools_with_a_tool_choice_always_calls_the_tool(server, tool_choice):
    """ChatOpenAI sends the choice as OpenAI's tool_choice; the grammar makes the call, whatever the model."""
    model = _chat_models(server, max_tokens=60)["openai"]
    reply = model.bind_tools([get_weather], tool_choice=tool_choice).invoke("서울 날씨 알려줘")
    assert len(reply.tool_calls) == 1, reply
    call = reply.tool_calls[0]
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str) and call["id"]


def test_langchain_with_structured_output_by_function_calling(server):
    City = _city_model()
    model = _chat_models(server, max_tokens=100)["openai"]
    answer = model.with_structured_output(City, method="function_calling").invoke("서울은 어느 나라의 도시인가요?")
    assert isinstance(answer, City)
    raw = model.with_structured_output(City, method="function_calling", include_raw=True).invoke("부산은?")
    assert raw["parsing_error"] is None and raw["raw"].tool_calls[0]["name"] == "City"


def test_langchain_ollama_function_calling_sends_the_tool_and_parses_a_call(server):
    """Ollama's wire protocol has no tool_choice (ChatOllama ignores it), so the model decides; kollama still shows
    it the tool and reads a call back. What is checked: the request succeeds and the result is either no call
    (None) or a valid City, never a parse error."""
    City = _city_model()
    model = _chat_models(server, max_tokens=60)["ollama"]
    raw = model.with_structured_output(City, method="function_calling", include_raw=True).invoke("서울은?")
    assert raw["parsing_error"] is None
    assert raw["parsed"] is None or isinstance(raw["parsed"], City)
    assert raw["raw"].content or raw["raw"].tool_calls
