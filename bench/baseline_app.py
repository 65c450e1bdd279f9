"""The canonical Streamlit chatbot, as Streamlit's docs write it ("Build a ChatGPT-like app"): the baseline
bench/browser.py measures our app against.

Configured from OPENAI_BASE_URL / OPENAI_API_KEY / OPENAI_MODEL. The only addition: BASELINE_HISTORY may name
a JSON list of {"role", "content"} messages that a session starts with (the long-chat figures).
"""

import json
import os
from pathlib import Path

import streamlit as st
from openai import OpenAI

st.title("ChatGPT-like clone")

client = OpenAI(base_url=os.environ.get("OPENAI_BASE_URL"), api_key=os.environ["OPENAI_API_KEY"])

if "openai_model" not in st.session_state:
    st.session_state["openai_model"] = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

if "messages" not in st.session_state:
    history = os.environ.get("BASELINE_HISTORY")
    st.session_state.messages = json.loads(Path(history).read_text(encoding="utf-8")) if history else []

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])

if prompt := st.chat_input("What is up?"):
    st.session_state.messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)

    with st.chat_message("assistant"):
        stream = client.chat.completions.create(
            model=st.session_state["openai_model"],
            messages=[{"role": m["role"], "content": m["content"]} for m in st.session_state.messages],
            stream=True,
        )
        response = st.write_stream(stream)
    st.session_state.messages.append({"role": "assistant", "content": response})
