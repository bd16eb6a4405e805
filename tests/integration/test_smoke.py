import httpx


def test_chat_through_fake_openai(openai_gateway, openai_fake):
    r = httpx.post(f"{openai_gateway.url}/v1/chat/completions", headers=openai_gateway.auth,
                   json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert openai_fake.requests[-1].json()["model"] == "gpt-4o"
