"""Every UI string, in Chinese and English, in one table."""

from __future__ import annotations

LANGUAGES = ("zh", "en")

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("AI 对话", "AI Chat"),
    "page_chat": ("对话", "Chat"),
    "page_usage": ("用量", "Usage"),
    "usage_title": ("API 调用记录", "API calls"),
    "usage_caption": (
        "本应用发出的每一次 API 调用：回复（重试、工具轮次、备用模型各占一行）、摘要、标题、内容审核、语音转写。"
        "时间为浏览器所在时区。",
        "Every API call this app made: replies (each retry, tool round and fallback a row of its own), summaries, "
        "titles, moderation, transcription. Times are in your browser's time zone.",
    ),
    "usage_month": ("本月花费", "Spent this month"),
    "usage_projection": ("按目前日均推算月底", "At this rate by the month's end"),
    "usage_projection_help": (
        "本月至今的花费 ÷ 已过天数（含今天）× 本月天数",
        "This month's spend so far ÷ days so far (today included) × days in the month",
    ),
    "usage_month_calls": ("本月调用次数", "Calls this month"),
    "usage_dates": ("日期范围", "Dates"),
    "usage_model": ("模型", "Model"),
    "usage_chat": ("对话", "Chat"),
    "usage_all": ("全部", "All"),
    "usage_none": ("这段时间内没有 API 调用。", "No API calls in this range."),
    "usage_count": ("{count} 次调用，共 {cost}", "{count} calls, {cost} in all"),
    "usage_capped": (
        "表中只列出最新的 {shown} 次（CSV 含全部）。",
        "The table lists the newest {shown} (the CSV has them all).",
    ),
    "usage_per_day": ("每日", "Per day"),
    "usage_per_model": ("每个模型", "Per model"),
    "usage_cost_chart": ("花费（{currency}）", "Cost ({currency})"),
    "usage_tokens_chart": ("Tokens", "Tokens"),
    "usage_csv": ("下载 CSV", "Download CSV"),
    "usage_col_time": ("时间", "Time"),
    "usage_col_chat": ("对话", "Chat"),
    "usage_col_open": ("打开", "open"),
    "usage_col_title": ("标题", "Title"),
    "usage_col_provider": ("服务商", "Provider"),
    "usage_col_model": ("模型", "Model"),
    "usage_col_kind": ("类型", "Kind"),
    "usage_col_prompt": ("输入 tokens", "Prompt tokens"),
    "usage_col_cached": ("缓存 tokens", "Cached tokens"),
    "usage_col_completion": ("输出 tokens", "Completion tokens"),
    "usage_col_ttft": ("首字 ms", "TTFT ms"),
    "usage_col_total": ("总耗时 ms", "Total ms"),
    "usage_col_cost": ("花费（{currency}）", "Cost ({currency})"),
    "usage_col_outcome": ("结果", "Outcome"),
    "input_placeholder": ("输入消息，Enter 发送", "Type a message, Enter to send"),
    "language": ("界面语言", "Language"),
    "connection": ("连接", "Connection"),
    "base_url": ("Base URL", "Base URL"),
    "base_url_help": (
        "OpenAI 兼容接口地址，例如 https://api.deepseek.com/v1；留空为 OpenAI 官方",
        "OpenAI-compatible endpoint, e.g. https://api.deepseek.com/v1; empty for OpenAI",
    ),
    "api_key": ("API Key（仅本次浏览器会话）", "API key (this browser session only)"),
    "api_key_help": (
        "在此输入的 Key 只保存在当前浏览器会话中；.env 中的 Key 永远不会发送到浏览器",
        "A key typed here lives only in this browser session; keys from .env never reach the browser",
    ),
    "api_key_from_env": ("已从 .env 读取 Key", "Using the key from .env"),
    "base_url_from_env": (
        "使用 .env 中的 Base URL（只显示协议、主机和端口）",
        "Using the base URL from .env (only its scheme, host and port are shown)",
    ),
    "model": ("模型", "Model"),
    "parameters": ("参数与工具", "Parameters and tools"),
    "temperature": ("温度", "Temperature"),
    "max_tokens": ("最大输出 tokens", "Max output tokens"),
    "tools": ("启用的工具", "Enabled tools"),
    "mcp_ready": (
        "MCP 服务器 **{name}**（{transport}）：{count} 个工具",
        "MCP server **{name}** ({transport}): {count} tools",
    ),
    "mcp_failed": ("MCP 服务器 **{name}** 未能启动：{detail}", "MCP server **{name}** did not start: {detail}"),
    "mcp_config_error": ("无法读取 MCP 配置：{detail}", "Cannot read the MCP configuration: {detail}"),
    "more_parameters": ("⚙️ 更多参数", "⚙️ More parameters"),
    "parameters_set": ("另外发送：{names}", "Also sent: {names}"),
    "more_parameters_help": (
        "只发送你改动过的参数：留空或选“默认”的参数不会出现在请求中（可在“最近一次发送的请求”中查看）。",
        "Only what you change is sent: a parameter left empty or at “default” is not in the request "
        "(see “Last request sent”).",
    ),
    "param_default": ("默认（不发送）", "default (not sent)"),
    "top_p": ("top_p（核采样）", "top_p (nucleus sampling)"),
    "top_p_help": (
        "只从累计概率达到 top_p 的最可能的 token 中采样；通常只调 top_p 或温度中的一个。",
        "Sample only from the most likely tokens whose probabilities add up to top_p; usually change this or "
        "the temperature, not both.",
    ),
    "presence_penalty": ("presence_penalty（话题新鲜度）", "presence_penalty (new topics)"),
    "frequency_penalty": ("frequency_penalty（减少重复）", "frequency_penalty (less repetition)"),
    "penalty_help": (
        "-2 到 2。正值惩罚已经出现过的 token：presence 只看是否出现过，frequency 按出现次数。",
        "-2 to 2. Positive values penalise tokens already used: presence for having appeared at all, "
        "frequency by how often.",
    ),
    "seed": ("seed（随机种子）", "seed"),
    "seed_help": (
        "相同的种子和参数会尽量给出相同的回答（服务商只保证“尽力而为”）。",
        "The same seed and parameters aim for the same reply (providers promise best effort only).",
    ),
    "stop": ("stop（停止序列）", "stop sequences"),
    "stop_help": (
        "每行一个；模型生成到其中任何一个就停下（不包含它）。写 \\n 表示换行。OpenAI 最多 4 个。",
        "One per line; the reply ends where the model would write any of them (left out). Write \\n for a "
        "line break. OpenAI takes up to 4.",
    ),
    "n_choices": ("n（备选回答数）", "n (alternative replies)"),
    "n_help": (
        "一次生成几个回答，以标签页显示；输出 tokens 按全部回答计费。",
        "How many replies to generate at once, shown as tabs; you pay the output tokens of all of them.",
    ),
    "logprobs": ("logprobs（显示每个 token 的概率）", "logprobs (show each token's probability)"),
    "logprobs_help": (
        "回复中的每个 token 按概率着色，鼠标悬停显示备选 token。",
        "Each token of the reply is shaded by its probability; hover to see the alternatives.",
    ),
    "top_logprobs": ("top_logprobs（每个位置的备选数）", "top_logprobs (alternatives per token)"),
    "top_logprobs_help": ("0 到 20；仅在打开 logprobs 时发送。", "0 to 20; sent only with logprobs on."),
    "tool_choice": ("tool_choice（工具选择）", "tool_choice"),
    "tool_choice_help": (
        "auto：模型自己决定；none：不调用工具；required：必须调用某个工具；选工具名：必须调用它。"
        "仅在启用了工具时发送（默认发送 auto）。",
        "auto: the model decides; none: no tool; required: some tool; a tool's name: that tool. Sent only "
        "with tools enabled (by default as auto).",
    ),
    "parallel_tool_calls": ("parallel_tool_calls（并行调用工具）", "parallel_tool_calls"),
    "parallel_tool_calls_help": (
        "是否允许模型在一次回复中调用多个工具；仅在启用了工具时发送。",
        "Whether the model may call several tools in one reply; sent only with tools enabled.",
    ),
    "reasoning_effort": ("reasoning_effort（推理强度）", "reasoning_effort"),
    "reasoning_effort_help": (
        "只对推理模型有效（如 o3、o4-mini、gpt-5）：推理越多越慢越贵。其他模型通常会拒绝这个参数。",
        "Only for reasoning models (o3, o4-mini, gpt-5, ...): more reasoning is slower and costs more. Other "
        "models usually reject it.",
    ),
    "response_format": ("response_format（回复格式）", "response_format"),
    "response_format_help": (
        "json_object：回复必须是 JSON 对象（提示中也要提到 JSON）；json_schema：回复必须符合下面的 Schema。"
        "回复会用 jsonschema 校验。",
        "json_object: the reply must be a JSON object (mention JSON in your prompt too); json_schema: it must "
        "follow the schema below. The reply is checked with jsonschema.",
    ),
    "schema_example": ("从示例开始", "Start from an example"),
    "schema_own": ("自己的 Schema", "your own schema"),
    "schema_text": ("JSON Schema", "JSON Schema"),
    "schema_invalid": (
        "Schema 不可用，未发送 response_format：",
        "The schema is not usable, so response_format is not sent:",
    ),
    "format_valid": ("✅ 回复符合要求的格式（{format}）", "✅ The reply follows the asked format ({format})"),
    "format_invalid": ("回复不符合要求的格式（{format}）：", "The reply does not follow the asked format ({format}):"),
    "logprobs_view": ("🎨 Token 概率（悬停查看备选）", "🎨 Token probabilities (hover for alternatives)"),
    "logprobs_legend": (
        "颜色越深，模型对这个 token 越不确定。",
        "The darker a token, the less sure the model was of it.",
    ),
    "choice_tab": ("回答 {index}", "Choice {index}"),
    "template": ("提示模板", "Prompt template"),
    "custom_system": ("自定义系统提示（本对话）", "Custom system prompt (this chat)"),
    "custom_system_help": (
        "填写后代替模板的系统提示发送；留空则使用模板。随对话保存。",
        "Sent instead of the template's system prompt when filled in; empty uses the template. Saved with the chat.",
    ),
    "template_applies": ("切换后从下一条消息生效", "Applies from the next message"),
    "usage": ("Tokens 与费用", "Tokens and cost"),
    "last_reply": ("上一条回复", "Last reply"),
    "conversation": ("本对话", "This conversation"),
    "prompt_tokens": ("输入", "Prompt"),
    "completion_tokens": ("输出", "Completion"),
    "total_tokens": ("合计", "Total"),
    "cost": ("费用", "Cost"),
    "estimated": ("（估算）", "(estimated)"),
    "no_price": ("未知模型，无价格", "unknown model, no price"),
    "local_cost": ("本地模型，免费", "local model, free"),
    "rate_note": ("汇率 1 USD = {rate} CNY", "rate 1 USD = {rate} CNY"),
    "no_usage_yet": ("还没有调用", "No calls yet"),
    "actions": ("对话", "Conversation"),
    "export_md": ("下载 Markdown", "Download Markdown"),
    "export_json": ("下载 JSON", "Download JSON"),
    "show_earlier": ("显示更早的 {count} 条消息", "Show {count} earlier messages"),
    "last_request": ("最近一次发送的请求", "Last request sent"),
    "last_request_help": (
        "实际通过 HTTP 发送的 JSON（Key 在请求头中，不显示）",
        "The JSON body sent over HTTP (the key travels in a header and is not shown)",
    ),
    "last_response_help": (
        "收到的响应：共 {total} 个 chunk，这里显示开头和结尾的 {shown} 个（流式时每个都是一行 SSE data:）",
        "What came back: {total} chunks, the first and last {shown} shown (streamed, each was one SSE data: line)",
    ),
    "trimmed": (
        "为适应上下文窗口，较早的 {count} 条消息未发送",
        "{count} earlier messages were left out to fit the context window",
    ),
    "tool_call": ("调用工具 {name}", "Tool call {name}"),
    "tool_arguments": ("参数", "Arguments"),
    "tool_result": ("结果", "Result"),
    "tool_error": ("工具出错", "Tool error"),
    "approve": ("执行你对工具调用的决定", "Carry out your decisions on the tool calls"),
    "approve_all": ("运行任何工具前先询问我", "Ask before running any tool"),
    "approve_all_help": (
        "模型每次调用工具都先暂停：你可以查看并修改参数，然后运行，或拒绝（模型会被告知）",
        "Every tool call pauses first: check or edit its arguments, then run it, or reject it (the model is told)",
    ),
    "approve_tools": ("运行这些工具前先询问我", "Ask before running these tools"),
    "approve_tools_help": (
        "只有这些工具的调用需要你批准，其余照常自动运行",
        "Only calls of these tools wait for your approval; the others run on their own",
    ),
    "approval_title": ("🛑 模型想要调用工具：请逐一决定", "🛑 The model wants to call tools: decide on each"),
    "approval_arguments": ("参数（JSON，可编辑）", "Arguments (JSON, editable)"),
    "approval_arguments_help": (
        "“运行”使用模型给出的参数；改动后请点“编辑后运行”",
        "Run uses the model's arguments; after changing them, use Edit then run",
    ),
    "approval_run": ("运行", "Run"),
    "approval_run_help": ("按模型给出的参数运行", "Run with the arguments the model gave"),
    "approval_edit_run": ("编辑后运行", "Edit then run"),
    "approval_edit_run_help": (
        "按上面框中你修改后的参数运行",
        "Run with the arguments in the box above, as you edited them",
    ),
    "approval_reject": ("拒绝", "Reject"),
    "approval_reject_help": ("不运行；告诉模型你拒绝了这次调用", "Do not run it; the model is told you rejected it"),
    "approval_json_where": ("第 {line} 行第 {column} 列", "line {line}, column {column}"),
    "approval_bad_json": (
        "参数不是有效的 JSON：{detail}。没有运行任何工具。",
        "The arguments are not valid JSON: {detail}. Nothing was run.",
    ),
    "approval_not_object": (
        "参数必须是一个 JSON 对象（{...}）。没有运行任何工具。",
        "The arguments must be a JSON object ({...}). Nothing was run.",
    ),
    "approval_decided_run": ("✅ 将按模型的参数运行", "✅ Will run with the model's arguments"),
    "approval_decided_edited": ("✏️ 将按你修改后的参数运行", "✏️ Will run with your edited arguments"),
    "approval_decided_rejected": ("🚫 已拒绝", "🚫 Rejected"),
    "approval_change": ("更改", "Change"),
    "approval_first": (
        "对每个调用做出决定后，回复才会继续；在此之前输入框暂停使用。",
        "The reply goes on once each call has your decision; until then the message box waits.",
    ),
    "approval_going": ("正在执行你的决定…", "Carrying out your decisions…"),
    "tool_decision_run": ("你批准了这次调用", "You approved this call"),
    "tool_decision_edited": ("你修改了参数后运行", "You edited the arguments, then ran it"),
    "tool_decision_rejected": ("你拒绝了这次调用：它没有运行", "You rejected this call: it did not run"),
    "tool_proposed": ("模型原本给出的参数", "The arguments the model proposed"),
    "voice_input": ("🎤 说出你的消息", "🎤 Speak your message"),
    "voice_help": (
        "用 {model} 转写；文字会填入下方输入框，检查后再发送",
        "Transcribed with {model}; the text goes into the message box below, to check and send",
    ),
    "transcribing": ("正在转写录音…", "Transcribing the recording…"),
    "transcribed": (
        "已转写：请检查输入框中的文字，然后发送。",
        "Transcribed: check the text in the message box, then send it.",
    ),
    "transcription_empty": ("录音中没有识别出文字。", "No words were recognised in the recording."),
    "transcription_failed": ("录音未能转写：{reason}", "The recording could not be transcribed: {reason}"),
    "transcribe_again": ("再转写一次", "Transcribe again"),
    "kb_open": ("📚 知识库", "📚 Knowledge base"),
    "kb_open_help": (
        "上传文档或粘贴文本，供 search_knowledge_base 工具检索",
        "Upload documents or paste text for the search_knowledge_base tool to search",
    ),
    "kb_title": ("知识库", "Knowledge base"),
    "kb_intro": (
        "文档被切分为相互重叠的段落并建立索引（BM25，中英文均可检索）。启用 search_knowledge_base 工具后，模型检索本对话所选的集合，"
        "回答下方列出它用到的段落。",
        "Documents are split into overlapping passages and indexed (BM25, Chinese and English alike). With the "
        "search_knowledge_base tool enabled, the model searches the collections this chat has chosen, and the answer "
        "lists the passages it used.",
    ),
    "kb_collections": ("知识库集合", "Knowledge collections"),
    "kb_collections_help": (
        "本对话中 search_knowledge_base 能检索的集合（随对话保存）；在 📚 知识库 中管理",
        "The collections search_knowledge_base searches in this chat (kept with the chat); manage them under 📚 Knowledge base",
    ),
    "kb_sample": ("示例：OpenAI API 与本应用", "Sample: the OpenAI API and this app"),
    "kb_default_collection": ("我的文档", "My documents"),
    "kb_target": ("添加到集合", "Add to collection"),
    "kb_target_help": ("选择已有集合，或输入新名称", "Pick a collection, or type a new name"),
    "kb_upload": (
        "上传 .txt、.md、.pdf 或 .docx 文件（每个不超过 {mb} MB）",
        "Upload .txt, .md, .pdf or .docx files (up to {mb} MB each)",
    ),
    "kb_paste": ("粘贴文本", "Paste text"),
    "kb_paste_title": ("标题", "Title"),
    "kb_paste_text": ("文本（Markdown 标题会分成小节）", "Text (Markdown headings make sections)"),
    "kb_paste_add": ("添加", "Add"),
    "kb_pasted": ("粘贴的文本", "Pasted text"),
    "kb_added": (
        "已将 **{name}** 添加到“{collection}”：{passages} 个段落",
        "Added **{name}** to “{collection}”: {passages} passages",
    ),
    "kb_refused": ("未添加 **{name}**：{reason}", "Not added **{name}**: {reason}"),
    "kb_refused_empty": ("内容是空的", "it is empty"),
    "kb_refused_too_large": (
        "大小为 {size} MB，超过上限 {limit} MB（KNOWLEDGE_MAX_FILE_MB）",
        "it has {size} MB, more than the limit of {limit} MB (KNOWLEDGE_MAX_FILE_MB)",
    ),
    "kb_refused_type": ("只接受 {kinds} 文件", "only {kinds} files are taken"),
    "kb_refused_binary": (
        "不是文本文件（无法按 UTF-8、UTF-16 或 GB18030 读取）",
        "it is no text file (it reads as neither UTF-8, UTF-16 nor GB18030)",
    ),
    "kb_refused_pdf_damaged": (
        "PDF 已损坏或并非 PDF，无法读取",
        "the PDF is damaged, or no PDF at all, and cannot be read",
    ),
    "kb_refused_pdf_encrypted": (
        "PDF 受密码保护；请去掉密码后再上传",
        "the PDF is password-protected; remove the password and upload it again",
    ),
    "kb_refused_pdf_too_big": (
        "PDF 超过 {pages} 页，或 {seconds} 秒内读不完；请拆分后分别上传",
        "the PDF has more than {pages} pages, or takes more than {seconds} s to read; split it and upload the parts",
    ),
    "kb_refused_docx_damaged": (
        "Word 文档已损坏或不是 .docx（旧版 .doc 请先另存为 .docx）",
        "the Word document is damaged or no .docx (save an old .doc as .docx first)",
    ),
    "kb_refused_no_text": (
        "没有可提取的文字（扫描版 PDF 需先做文字识别）",
        "it has no text to take (a scanned PDF needs text recognition first)",
    ),
    "kb_refused_too_many_passages": (
        "会切分出超过 {limit} 个段落（KNOWLEDGE_MAX_PASSAGES）；请拆分后分别上传",
        "it would make more than {limit} passages (KNOWLEDGE_MAX_PASSAGES); split it and upload the parts",
    ),
    "kb_refused_duplicate": (
        "同一文件已在“{collection}”中（名为 {name}）",
        "the same file is already in “{collection}” (as {name})",
    ),
    "kb_not_saved": ("知识库未能保存：{detail}", "The knowledge base could not be saved: {detail}"),
    "kb_documents": ("文档", "Documents"),
    "kb_no_documents": (
        "还没有文档：上传文件或粘贴文本即可开始。",
        "No documents yet: upload a file or paste text to start.",
    ),
    "kb_collection_line": (
        "**{name}** · {documents} 个文档 · {passages} 个段落",
        "**{name}** · {documents} documents · {passages} passages",
    ),
    "kb_document_line": (
        "📄 {name} · {kind} · {passages} 个段落 · {size} KB",
        "📄 {name} · {kind} · {passages} passages · {size} KB",
    ),
    "kb_preview_more": ("……另有 {count} 个段落", "… and {count} more passages"),
    "kb_delete": ("删除", "Delete"),
    "kb_delete_confirm": (
        "删除 **{name}** 及其 {passages} 个段落？此操作无法撤销。",
        "Delete **{name}** and its {passages} passages? This cannot be undone.",
    ),
    "kb_delete_collection_confirm": (
        "删除集合 **{name}** 及其中的 {documents} 个文档？此操作无法撤销。",
        "Delete the collection **{name}** and its {documents} documents? This cannot be undone.",
    ),
    "kb_delete_yes": ("确认删除", "Yes, delete"),
    "kb_deleted": ("已删除 **{name}**", "Deleted **{name}**"),
    "kb_sources": ("引用的段落", "Sources"),
    "kb_citation": ("📄 {document} · 第 {passage} 段", "📄 {document} · passage {passage}"),
    "kb_citation_from": ("集合“{collection}” · {title}", "Collection “{collection}” · {title}"),
    "reasoning": ("思考过程", "Reasoning"),
    "status_stopped": ("已停止，已保留收到的内容", "Stopped; what arrived is kept"),
    "status_writing_elsewhere": (
        "这条回复仍在别处（另一个标签页或服务器）生成中；本页每隔几秒会读取已保存的内容",
        "This reply is still being written elsewhere (another tab or server); this page reads what was saved every few seconds",
    ),
    "status_interrupted": ("回复中断，已保留收到的内容", "Reply interrupted; what arrived is kept"),
    "status_length": ("回复达到最大 tokens 上限被截断", "The reply hit the max tokens limit and was cut short"),
    "status_filtered": (
        "回复被服务商的内容过滤拦截（finish_reason: content_filter），以上是过滤前收到的内容。",
        "The provider's content filter stopped this reply (finish_reason: content_filter); above is what arrived before.",
    ),
    "status_refused": ("模型拒绝回答：{text}", "The model declined to answer: {text}"),
    "raw_error": ("原始错误", "Raw error"),
    "trace": ("请求记录", "Trace"),
    "trace_help": (
        "这条回复的每一次 HTTP 请求：请求体、状态、响应头，以及逐行到达的响应和到达时间；可下载，可复制为代码。",
        "Every HTTP request of this reply: its body, status, headers and each response line with when it arrived; "
        "download it, or copy a request as code.",
    ),
    "trace_none": (
        "这条回复没有请求记录（TRACE=off，或生成于开始记录之前）。",
        "This reply has no trace (TRACE=off, or it was made before traces were kept).",
    ),
    "trace_download": ("下载记录（JSON）", "Download trace (JSON)"),
    "trace_round": ("第 {round} 次请求 · {purpose}", "Request {round} · {purpose}"),
    "trace_purpose_answer": ("回答", "answer"),
    "trace_purpose_tools": ("工具调用", "tool call"),
    "trace_purpose_summary": ("摘要", "summary"),
    "trace_purpose_title": ("标题", "title"),
    "trace_no_response": ("没有收到响应", "no response"),
    "trace_timing": ("首行 {first:.0f} ms · 共 {total:.0f} ms", "first line {first:.0f} ms · total {total:.0f} ms"),
    "trace_ttft": ("首个 token（TTFT）{ms:.0f} ms", "first token (TTFT) {ms:.0f} ms"),
    "trace_headers": ("响应头", "Response headers"),
    "trace_request": (
        "请求体（原样发送；Key 在请求头中，从不记录）",
        "Request body (as sent; the key travels in a header, never recorded)",
    ),
    "trace_lines": (
        "响应，逐行（行首为自发送起的毫秒数）",
        "Response, line by line (each after the ms since the request was sent)",
    ),
    "trace_dropped": (
        "超出 TRACE_MAX_KB：另有 {lines} 行（{size} 字节）未保存",
        "Past TRACE_MAX_KB: {lines} more lines ({size} bytes) were not kept",
    ),
    "trace_error": ("本次请求的结束原因", "What ended this request"),
    "trace_code": (
        "复制为代码：发送同样的请求（Key 从环境变量 OPENAI_API_KEY 读取）",
        "Copy as code: sends the same request (the key is read from the OPENAI_API_KEY environment variable)",
    ),
    "provider": ("服务商", "Provider"),
    "refresh_models": ("刷新模型列表", "Refresh model list"),
    "models_unlisted": (
        "该服务未返回模型列表，可直接输入模型名",
        "This provider lists no models; type a model name",
    ),
    "models_problem": ("读取模型列表失败：{detail}", "Why no list: {detail}"),
    "local_badge": (
        "🧪 本地演示模型 {model}：离线、免费，但很小：英文简短回答尚可，中文较弱，工具选择大约一半正确。"
        "可用 LOCAL_MODEL_PATH 指向更大的 GGUF 模型，或在侧边栏选择服务商。",
        "🧪 Local demo model {model}: offline and free, but tiny: fair short English answers, weak Chinese, "
        "picks the right tool about half the time. Point LOCAL_MODEL_PATH at a bigger GGUF, or pick a provider "
        "in the sidebar.",
    ),
    "local_loading": ("正在加载本地模型…", "Loading the local model…"),
    "local_try_again": ("重新启动本地模型", "Start the local model again"),
    "local_ready": ("本地模型已就绪", "Local model ready"),
    "local_server_looking": ("正在查找本机上运行的模型…", "Looking for models running on this computer…"),
    "local_server_found": (
        "🖥️ 在 {address} 找到 {server} · 使用 {model}",
        "🖥️ Found {server} on {address} · using {model}",
    ),
    "local_server_use_demo": ("改用演示模型", "Use the demo model instead"),
    "welcome_connected": ("已连接：{provider} · {model} · {price}", "Connected: {provider} · {model} · {price}"),
    "welcome_price": ("每百万 tokens：输入 {input}，输出 {output}", "per million tokens: {input} in, {output} out"),
    "welcome_free": ("免费", "free"),
    "welcome_try": ("从一个示例开始：", "Start with an example:"),
    "welcome_demo_tools": (
        "演示模型默认关闭工具（它会随机调用工具）。要打开：侧边栏 → {where}。",
        "Tools are off on the demo model (it calls them at random). To switch them on: sidebar → {where}.",
    ),
    "welcome_python_function_label": ("写一个简短的 Python 函数", "Write a short Python function"),
    "welcome_definition_label": ("一句话的英文定义", "A one-line definition"),
    "welcome_greeting_label": ("写一句生日祝福", "A birthday greeting"),
    "welcome_list_label": ("列出三种水果", "List three fruits"),
    "welcome_tool_label": ("用计算器算一道题", "Use the calculator"),
    "welcome_tool_note": (
        "打开计算器工具：回复中会显示这次工具调用。",
        "Switches the calculator tool on: the reply shows the tool call.",
    ),
    "welcome_template_label": ("翻译一句话", "Translate a sentence"),
    "welcome_template_note": (
        "这一条消息使用“翻译助手”模板；侧边栏共有 {templates} 种模板可选。",
        "Uses the Translator template for this message; the sidebar has {templates} templates to choose from.",
    ),
    "welcome_chinese_label": ("用中文提问", "Ask in Chinese"),
    "welcome_chinese_note": ("模型会用你提问的语言回答。", "A model answers in the language you ask in."),
    "welcome_inspector_label": ("看看发出的请求", "See the request"),
    "welcome_inspector_note": (
        "回复后侧边栏的“{last_request}”会打开，显示发出的 JSON；每条回复的逐行记录在它下方的“{trace}”按钮里。",
        "After the reply the sidebar's “{last_request}” opens with the JSON sent; each reply's wire trace "
        "is under its “{trace}” button.",
    ),
    "local_unavailable": (
        "本地模型无法启动：{detail}",
        "The local model cannot start: {detail}",
    ),
    "setup_title": ("还没有配置模型服务", "No model service is configured yet"),
    "setup_body": (
        "当前服务商需要 API Key（或自定义服务需要 Base URL）。请在项目目录创建 `.env`（参照 `.env.example`），"
        "设置 `OPENAI_API_KEY`，如使用其他服务再设置 `OPENAI_BASE_URL` 和 `OPENAI_MODEL`，然后重启应用；"
        "也可以在侧边栏填写（仅本次会话有效），或选择本地演示模型。",
        "This provider needs an API key (a custom provider needs a base URL). Create `.env` in the project folder "
        "(see `.env.example`) with `OPENAI_API_KEY`, plus `OPENAI_BASE_URL` and `OPENAI_MODEL` for another "
        "provider, then restart the app; or enter them in the sidebar (this session only), or pick the local "
        "demo model.",
    ),
    "config_error": ("配置有误：{detail}", "Configuration problem: {detail}"),
    "config_error_sent": (
        "配置有误：{detail}。消息没有发送，原文在下面可以复制；改好文件后请刷新页面。",
        "Configuration problem: {detail}. The message was not sent; its text is below to copy. Fix the file, then "
        "reload the page.",
    ),
    "interrupted_by": ("中断原因", "Interrupted"),
    # error kind -> what happened / what to do
    "err_auth": (
        "API Key 无效（401）。请检查 `.env` 中的 OPENAI_API_KEY 或侧边栏中的 Key 是否正确、是否属于当前服务。",
        "The API key was rejected (401). Check OPENAI_API_KEY in `.env` or the key in the sidebar, and that it belongs to this provider.",
    ),
    "err_permission": (
        "无权访问（403）。该 Key 可能无权使用此模型，或所在地区不受支持。请换模型或检查账户权限。",
        "Access denied (403). The key may not be allowed to use this model or region. Try another model or check the account.",
    ),
    "err_not_found": (
        "找不到（404）。模型名或 Base URL 可能有误（Base URL 通常以 /v1 结尾）。请检查侧边栏设置。",
        "Not found (404). The model name or base URL is probably wrong (base URLs usually end in /v1). Check the sidebar.",
    ),
    "err_bad_request": (
        "请求被拒绝（400）。请查看原始错误，调整参数（如 max tokens、温度）后重试。",
        "The request was rejected (400). See the raw error, adjust the parameters (max tokens, temperature) and try again.",
    ),
    "err_bad_parameter": (
        "服务商拒绝了参数 `{param}`（该模型或服务不支持它，或不接受这个值）。请在侧边栏“参数与工具”中取消设置或修改它，然后重新发送。",
        "The provider rejected the parameter `{param}` (this model or service does not support it, or not this "
        "value). Unset or change it under “Parameters and tools” in the sidebar and send again.",
    ),
    "err_image_refused": (
        '模型拒绝了图片：它多半不能读图（{status}）。请在侧边栏换一个视觉模型（如 gpt-4o-mini、gpt-4.1），再点 🔄 重新回答；你的消息和图片都已保留。若要继续用这个模型，在 models.json 中为它写上 "vision": false，此后发给它的只有文字。',
        'The model refused the image: it most likely reads no images ({status}). Pick a vision model in the sidebar (gpt-4o-mini, gpt-4.1, …) and press 🔄 to answer again; your message and its images are kept. To go on with this model, give it "vision": false in models.json: it then gets the text only.',
    ),
    "err_audio_too_large": (
        "录音超过 25 MB，转写接口不收这么大的文件。请录一段更短的再试。",
        "The recording is larger than 25 MB, more than the transcription endpoint takes. Record a shorter one.",
    ),
    "err_context_length": (
        "对话超出模型的上下文窗口。请清空对话、减少 max tokens，或换一个上下文更大的模型。",
        "The conversation is longer than the model's context window. Clear it, lower max tokens, or pick a model with a larger window.",
    ),
    "err_quota": (
        "账户余额或额度不足（insufficient_quota）。这不是限流，重试无效：请到服务商后台充值或检查账单。",
        "The account has no quota left (insufficient_quota). This is billing, not a rate limit: add credit or check billing with the provider.",
    ),
    "err_rate_limit": (
        "触发限流（429）。请稍等片刻再发送，或降低请求频率。",
        "Rate limited (429). Wait a moment and send again, or slow down.",
    ),
    "err_server": (
        "服务商出错（{status}）。这通常是暂时的，请稍后重试或换一个模型。",
        "The provider failed ({status}). This is usually temporary: try again shortly or switch models.",
    ),
    "err_connection": (
        "无法连接到服务（{base_url}）。请检查网络、代理，或自建网关 / 本地服务是否已启动。",
        "Could not reach the service ({base_url}). Check the network or proxy, and that your gateway or local server is running.",
    ),
    "err_timeout": (
        "请求超时。服务响应太慢，请稍后重试，或在 .env 中调大 REQUEST_TIMEOUT。",
        "The request timed out. The service was too slow: try again, or raise REQUEST_TIMEOUT in `.env`.",
    ),
    "err_stream_cut": (
        "回复中途连接断开。已收到的内容已保留，可以重新发送或让模型继续。",
        "The connection dropped mid-reply. What arrived is kept; send again or ask the model to continue.",
    ),
    "err_tool_rounds": (
        "模型连续调用工具的轮数达到上限，已停止。可以换个问法，或在 .env 中调大 MAX_TOOL_ROUNDS。",
        "The model kept calling tools until the round limit and was stopped. Rephrase, or raise MAX_TOOL_ROUNDS in `.env`.",
    ),
    "err_reply_limit": (
        "回复超过了长度或时长上限（MAX_REPLY_CHARS / MAX_REPLY_SECONDS），已停止。已收到的内容已保留；可以让模型继续，或在 .env 中调大上限。",
        "The reply went past its length or time limit (MAX_REPLY_CHARS / MAX_REPLY_SECONDS) and was stopped. What arrived is kept; ask the model to continue, or raise the limits in `.env`.",
    ),
    "err_local_crashed": (
        "本地模型服务意外退出（崩溃或被终止），其日志最后几行见原始错误。你的消息已保留；发送下一条消息时会自动重启它一次。",
        "The local model server stopped unexpectedly (crashed or was killed); its last log lines are in the raw error. Your message is kept; it restarts once with your next message.",
    ),
    "err_conflict": (
        "请求冲突（409），服务端暂时无法处理。请稍后重试。",
        "The request conflicted (409) and the service could not handle it now. Try again shortly.",
    ),
    "err_stalled": (
        "回复中途停滞：超过 REQUEST_TIMEOUT 秒没有收到新数据，已断开。已收到的内容已保留，可以让模型继续。",
        "The reply stalled: no data for REQUEST_TIMEOUT seconds, so it was cut. What arrived is kept; ask the model to continue.",
    ),
    "notice_retrying": (
        "{kind} 错误，{delay:.1f} 秒后第 {attempt} 次重试…",
        "{kind} error; retry {attempt} in {delay:.1f} s…",
    ),
    "notice_waiting": (
        "客户端限流：等待 {seconds:.1f} 秒后发送（RATE_LIMIT_RPM / RATE_LIMIT_TPM）…",
        "Client-side rate limit: sending in {seconds:.1f} s (RATE_LIMIT_RPM / RATE_LIMIT_TPM)…",
    ),
    "fallback_badge": (
        "🔀 由备用模型 {model} 回答（{primary} 出错：{kind}）",
        "🔀 Answered by fallback model {model} ({primary} failed: {kind})",
    ),
    "skipped_badge": (
        "⏭️ 跳过了 {model}（{endpoint}）：自 {since} 起不可用",
        "⏭️ Skipped {model} ({endpoint}): down since {since}",
    ),
    "providers": ("服务商状态", "Providers"),
    "providers_help": (
        "每个已配置的服务商和备用模型：GET /models 是否可达、耗时、最近的错误。后台每 HEALTH_CHECK_MINUTES 分钟检查一次；"
        "已知不可用的服务商在备用链中会被跳过。",
        "Each configured provider and fallback: whether GET /models answers, how fast, the last error. Checked in the "
        "background every HEALTH_CHECK_MINUTES minutes; the fallback chain skips one known to be down.",
    ),
    "health_up": ("🟢 可用", "🟢 up"),
    "health_down": ("🔴 不可用", "🔴 down"),
    "health_unknown": ("⚪ 未知", "⚪ unknown"),
    "health_latency": ("{ms} 毫秒", "{ms} ms"),
    "health_checked": ("检查于 {ago}", "checked {ago}"),
    "health_never_checked": ("尚未检查", "not checked yet"),
    "health_error": ("最近错误（{ago}）：{kind}：{detail}", "Last error ({ago}): {kind}: {detail}"),
    "health_check_now": ("立即检查", "Check now"),
    "health_checking": ("正在检查…", "Checking…"),
    "health_off": (
        "后台检查已关闭（HEALTH_CHECK_MINUTES=0）；可以手动检查。",
        "Background checks are off (HEALTH_CHECK_MINUTES=0); check by hand.",
    ),
    "health_none": ("没有可检查的服务商。", "No provider to check."),
    "ago_seconds": ("{n} 秒前", "{n} s ago"),
    "ago_minutes": ("{n} 分钟前", "{n} min ago"),
    "ago_hours": ("{n} 小时前", "{n} h ago"),
    "auto_model": ("auto（按规则选择便宜或强模型）", "auto (a cheap or strong model by rule)"),
    "auto_rules": (
        "auto 的规则（按顺序，第一条匹配的决定）",
        "Rules of auto (in order; the first that matches decides)",
    ),
    "auto_rules_edit": (
        "在 .env 中修改：AUTO_CHEAP_MODEL、AUTO_STRONG_MODEL、AUTO_LONG_CHARS、AUTO_CODE、AUTO_TOOLS（见 README）。",
        "Change them in .env: AUTO_CHEAP_MODEL, AUTO_STRONG_MODEL, AUTO_LONG_CHARS, AUTO_CODE, AUTO_TOOLS (see README).",
    ),
    "auto_task": ("任务类型", "Task type"),
    "auto_task_help": (
        "选了任务类型就按它选模型：闲聊、简单 → 便宜模型；代码、推理 → 强模型。",
        "A task type decides first: chat and simple go to the cheap model, code and reasoning to the strong one.",
    ),
    "task_": ("由规则决定", "let the rules decide"),
    "task_chat": ("闲聊", "chat"),
    "task_simple": ("简单问题", "simple"),
    "task_code": ("代码", "code"),
    "task_reasoning": ("推理", "reasoning"),
    "route_rule": ("规则", "rule"),
    "route_when": ("条件", "when"),
    "route_setting": ("设置项", "setting"),
    "route_rule_off": ("（已关闭）", "(off)"),
    "route_when_task": ("选了任务类型", "a task type is picked"),
    "route_when_length": ("消息至少 {limit} 个字符", "the message has {limit} characters or more"),
    "route_when_code": ("消息中有代码（``` 或代码片段）", "the message holds code (``` or code-like lines)"),
    "route_when_tools": ("消息提到已启用工具所做的事", "the message asks for what a switched-on tool does"),
    "route_when_default": ("其他情况", "anything else"),
    "route_why_task": ("任务类型：{task}", "task type: {task}"),
    "route_why_length": ("消息有 {chars} 个字符（≥ {limit}）", "the message has {chars} characters (≥ {limit})"),
    "route_why_code": ("消息中有代码（{sign}）", "the message holds code ({sign})"),
    "route_why_tools": ("消息提到 {word}（工具 {tool} 已启用）", "the message asks about {word} (tool {tool} is on)"),
    "route_why_default": ("简短的普通消息", "a short plain message"),
    "routed_badge": (
        "🧭 auto → {model}（规则 {rule}：{why}）",
        "🧭 auto → {model} (rule {rule}: {why})",
    ),
    "routed_cost": (
        "花费 {cost}，若用 {strong} 约为 {strong_cost}",
        "cost {cost}; with {strong} it would have been about {strong_cost}",
    ),
    "context_trimmed": (
        "上下文超出模型窗口：已再省略 {count} 条较早的消息并重试。",
        "The context was too long for the model: {count} more earlier messages were left out and the request was retried.",
    ),
    "err_bad_response": (
        "服务返回的内容不是可识别的 OpenAI 兼容回复（例如 HTML 页面，或缺少必要字段）。请查看原始错误，并检查 Base URL 与模型名。",
        "The service answered with something that is not a usable OpenAI-compatible reply (an HTML page, or missing fields). See the raw error and check the base URL and model name.",
    ),
    "err_unknown": (
        "发生了意外错误。已收到的内容已保留，请查看原始错误后重试。",
        "Something unexpected went wrong. What arrived is kept; see the raw error and try again.",
    ),
    "chats": ("对话列表", "Chats"),
    "new_chat": ("＋ 新对话", "＋ New chat"),
    "search_chats": ("搜索对话", "Search chats"),
    "no_results": ("没有找到匹配的对话", "No chat matches"),
    "untitled": ("新对话", "New chat"),
    "rename": ("标题", "Title"),
    "delete": ("删除对话", "Delete chat"),
    "delete_confirm": ("确定删除“{title}”？此操作无法撤销。", "Delete “{title}”? This cannot be undone."),
    "delete_yes": ("删除", "Delete"),
    "group_pinned": ("已置顶", "Pinned"),
    "group_today": ("今天", "Today"),
    "group_yesterday": ("昨天", "Yesterday"),
    "group_last_7_days": ("最近 7 天", "Last 7 days"),
    "group_last_30_days": ("最近 30 天", "Last 30 days"),
    "group_undated": ("日期未知", "Date unknown"),
    "folder_filter": ("文件夹", "Folder"),
    "all_folders": ("全部对话", "All chats"),
    "tag_filter": ("标签", "Tag"),
    "all_tags": ("全部标签", "All tags"),
    "show_archived": ("显示已归档", "Show archived"),
    "no_archived": ("没有已归档的对话", "No archived chats"),
    "organize": ("整理", "Organise"),
    "pin": ("置顶", "Pin"),
    "unpin": ("取消置顶", "Unpin"),
    "archive": ("归档", "Archive"),
    "archive_help": (
        "归档的对话不再显示在列表中，但仍可搜索到，也可随时恢复",
        "An archived chat leaves the list; search still finds it, and you can restore it",
    ),
    "restore": ("恢复", "Restore"),
    "folder": ("文件夹", "Folder"),
    "no_folder": ("（无）", "(none)"),
    "folder_help": ("选择文件夹，或输入新名称", "Pick a folder or type a new name"),
    "chat_tags": ("标签", "Tags"),
    "chat_tags_help": ("选择标签，或输入新标签", "Pick tags or type new ones"),
    "edit": ("编辑", "Edit"),
    "save_send": ("保存并发送", "Save and send"),
    "cancel": ("取消", "Cancel"),
    "regenerate": ("重新生成", "Regenerate"),
    "continue": ("继续生成", "Continue"),
    "continue_prompt": ("请从你中断的地方继续。", "Please continue from where you stopped."),
    "previous_version": ("上一个版本", "Previous version"),
    "next_version": ("下一个版本", "Next version"),
    "today": ("今天", "Today"),
    "all_time": ("全部", "All time"),
    "export": ("导出与导入", "Export and import"),
    "export_python": ("下载 Python 脚本（复现最近请求）", "Download Python script (last request)"),
    "export_curl": ("下载 curl 命令（复现最近请求）", "Download curl command (last request)"),
    "export_all_md": ("导出全部对话（Markdown）", "Export all chats (Markdown)"),
    "export_all_json": ("导出全部对话（JSON）", "Export all chats (JSON)"),
    "import": (
        "导入 JSON（本应用导出或 ChatGPT conversations.json）",
        "Import JSON (this app's export or ChatGPT conversations.json)",
    ),
    "import_done": ("已导入 {count} 个对话", "Imported {count} chats"),
    "import_failed": ("导入失败：{detail}", "Import failed: {detail}"),
    "import_not_saved": (
        "导入失败：无法写入对话数据库（{detail}），未导入任何对话。",
        "Import failed: the chat database could not be written ({detail}); nothing was imported.",
    ),
    "storage_error": (
        "无法保存到对话数据库（{detail}）。本次会话中的消息仍然保留在页面中；请检查 DATA_DIR 的磁盘空间和权限。",
        "Could not save to the chat database ({detail}). Messages stay in this page; check disk space and permissions of DATA_DIR.",
    ),
    "next_request": ("下一次请求（估算）", "Next request (estimate)"),
    "next_request_line": (
        "约 {tokens} 输入 tokens（历史 + 模板 + 工具）· 输入费用约 {cost}",
        "≈ {tokens} prompt tokens (history + template + tools) · input ≈ {cost}",
    ),
    "context_meter": (
        "上下文已用 {percent:.0f}%（{tokens} / {window}）",
        "Context {percent:.0f}% full ({tokens} / {window})",
    ),
    "estimate_vs_actual": (
        "估算 {estimate} → 实际 {actual}（{diff:+.1f}%）",
        "estimate {estimate} → actual {actual} ({diff:+.1f}%)",
    ),
    "speed": ("首字 {first:.2f} 秒 · {rate:.0f} tokens/秒", "first token {first:.2f} s · {rate:.0f} tokens/s"),
    "chart_title": ("每条回复的 tokens 与费用", "Tokens and cost per reply"),
    "budget_chat": ("本对话预算", "Chat budget"),
    "budget_day": ("今日预算", "Daily budget"),
    "budget_line": (
        "{label}：已用 {spent} / {limit}（{percent:.0f}%）",
        "{label}: {spent} of {limit} used ({percent:.0f}%)",
    ),
    "budget_over": (
        "已达到{label}（{spent} / {limit}）。你的消息还在：确定要发送吗？",
        "The {label} is used up ({spent} of {limit}). Your message is kept: send it anyway?",
    ),
    "budget_over_hard": (
        "已达到{label}（{spent} / {limit}）。这个额度由管理员设定，只有管理员可以提高；你的消息保留在下面。",
        "The {label} is used up ({spent} of {limit}). An admin set it and only an admin can raise it; your message is "
        "kept below.",
    ),
    "send_anyway": ("仍然发送", "Send anyway"),
    "safety_held": (
        "内容安全检查标记了这条消息，尚未发送（SAFETY=block）。可以修改后再发送，或仍然发送：",
        "Content safety flagged this message, so it was not sent (SAFETY=block). Edit it, or send it anyway:",
    ),
    "safety_warned": (
        "内容安全检查标记了这条消息（SAFETY=warn），仍已发送：",
        "Content safety flagged this message (SAFETY=warn); it was sent all the same:",
    ),
    "safety_word": ("词表第 {line} 行 {rule} 匹配到“{found}”", "word list line {line}: {rule} matched “{found}”"),
    "safety_timed_out": (
        "词表第 {line} 行 {rule} 在这段文字上超时（按匹配处理）",
        "word list line {line}: {rule} ran out of time on this text (counted as a match)",
    ),
    "safety_category": ("审核模型：{category}（{score:.2f}）", "moderation model: {category} ({score:.2f})"),
    "safety_no_moderation": (
        "当前服务不提供审核模型（POST /moderations），只检查了词表。",
        "This provider offers no moderation model (POST /moderations): only the word list was checked.",
    ),
    "safety_moderation_failed": (
        "审核模型调用失败，只检查了词表。",
        "The moderation model could not be asked: only the word list was checked.",
    ),
    "safety_held_text": ("你的消息", "Your message"),
    "safety_send_help": (
        "未修改：原样发送，不再检查；修改后：重新检查再发送",
        "Unchanged: it goes as it is, unchecked. Edited: it is checked again",
    ),
    "safety_badge_reply": ("内容安全检查标记了这条回复：", "Content safety flagged this reply:"),
    "safety_badge_user": ("内容安全检查标记了这条消息：", "Content safety flagged this message:"),
    "safety_status": (
        "内容安全：{mode}（词表 + 审核模型 `{model}`）",
        "Content safety: {mode} (word list + moderation model `{model}`)",
    ),
    "safety_status_list_only": (
        "内容安全：{mode}（仅词表：当前服务不提供审核模型）",
        "Content safety: {mode} (word list only: this provider offers no moderation model)",
    ),
    "safety_words_error": ("内容安全词表无法使用：{detail}", "The content safety word list cannot be used: {detail}"),
    "context_view": ("上下文视图：下一次请求会发送什么", "Context view: what the next request sends"),
    "ctx_sent": ("发送", "sent"),
    "ctx_left_out": ("省略", "left out"),
    "ctx_summarized": ("由摘要代替", "summarised"),
    "ctx_prefix": ("系统提示与模板示例：{count} 条", "System prompt and template examples: {count} messages"),
    "ctx_summary": ("摘要（{count} 条消息）：{text}", "Summary of {count} messages: {text}"),
    "breakdown_title": ("输入 tokens 的构成", "Prompt tokens by part"),
    "part_system": ("系统提示", "System prompt"),
    "part_examples": ("少样本示例", "Few-shot examples"),
    "part_tools": ("工具定义", "Tool definitions"),
    "part_summary": ("摘要", "Summary"),
    "part_trim_note": ("省略说明", "Left-out note"),
    "part_history": ("历史消息", "History"),
    "part_new_message": ("新消息", "New message"),
    "part_framing": ("消息框架", "Message framing"),
    "breakdown_total": (
        "**合计 {tokens}** = 下一次请求的输入 tokens",
        "**Total {tokens}** = the next request's prompt tokens",
    ),
    "part_framing_help": (
        "消息框架：每条消息 3 个 token 加上角色名，另有 3 个 token 引导回复。新消息：尚待回答的问题；你接下来输入的内容另计。",
        "Message framing: 3 tokens per message plus its role, and 3 that prime the reply. New message: a question still waiting for its answer; what you type next adds its own.",
    ),
    "tokenizer": ("分词器", "Tokenizer"),
    "tokenizer_input": ("输入任意文本", "Any text"),
    "tokenizer_help": (
        "按当前模型的编码切分成 token；␣ 是空格，↵ 是换行，\\x.. 是一个字符被切开后的字节",
        "Split into tokens with the current model's encoding; ␣ is a space, ↵ a line break, \\x.. the bytes of a character split across tokens",
    ),
    "tokenizer_count": (
        "{tokens} 个 token · {chars} 个字符 · 编码 {encoding}（{model}）",
        "{tokens} tokens · {chars} characters · encoding {encoding} ({model})",
    ),
    "rate_limits": ("速率限制", "Rate limits"),
    "rate_client": (
        "本应用的限速器，最近一分钟：{requests}/{rpm} 次请求 · {tokens}/{tpm} tokens",
        "This app's limiter, last minute: {requests}/{rpm} requests · {tokens}/{tpm} tokens",
    ),
    "rate_client_off": (
        "本应用未设限速（RATE_LIMIT_RPM / RATE_LIMIT_TPM）",
        "This app sets no limit of its own (RATE_LIMIT_RPM / RATE_LIMIT_TPM)",
    ),
    "rate_provider": ("服务商在上一条回复的响应头中告知：", "What the provider's headers said on the last reply:"),
    "rate_provider_none": (
        "上一条回复没有速率限制响应头（或没有记录请求轨迹）",
        "No rate-limit headers on the last reply (or its trace was not kept)",
    ),
    "rate_kind": ("限额", "Limit on"),
    "rate_requests": ("请求", "requests"),
    "rate_tokens": ("tokens", "tokens"),
    "rate_remaining": ("剩余", "remaining"),
    "rate_limit": ("上限", "limit"),
    "rate_reset": ("重置于", "resets in"),
    "cached_tokens": ("缓存命中 {tokens}", "cached {tokens}"),
    "cached_badge": ("⚡ 缓存的回答 · $0 · 节省 {saved}", "⚡ cached · $0 · saved {saved}"),
    "use_cache": ("如有缓存的回答则直接使用", "Use cached answer if available"),
    "use_cache_help": (
        "温度为 0 时总会使用缓存。打开后任何温度都会使用：完全相同的请求（模型、消息、工具、参数）直接得到过去 {hours} "
        "小时内记录的回答，不发送请求、不花钱。出错或中断的回答从不缓存。",
        "At temperature 0 a cached answer is always used. With this on, at any temperature: the very same request "
        "(model, messages, tools, parameters) gets the answer recorded in the last {hours} hours, without a request and "
        "at no cost. Errors and cut-off replies are never cached.",
    ),
    "cache_count": ("已缓存 {count} 条回答（仅你自己可用）", "{count} cached answers (yours only)"),
    "cache_clear": ("🗑️ 清空缓存", "🗑️ Clear the cache"),
    "cache_clear_question": (
        "删除你缓存的全部 {count} 条回答？之后相同的请求会重新发送给服务商。",
        "Delete all {count} of your cached answers? The same requests then go to the provider again.",
    ),
    "cache_clear_yes": ("删除", "Delete them"),
    "cache_cleared": ("缓存已清空：删除了 {count} 条回答。", "Cache cleared: {count} answers deleted."),
    "cache_clear_failed": ("无法清空缓存：数据库出错。", "The cache could not be cleared: the database failed."),
    "summarizing": ("正在摘要较早的对话…", "Summarising older turns…"),
    "summary_done": (
        "已将 {count} 条较早的消息压缩为摘要（费用已计入）",
        "{count} older messages were summarised (its cost is booked)",
    ),
    "summary_failed": (
        "摘要失败（{detail}），改为直接省略较早的消息",
        "Summarising failed ({detail}); older messages are left out instead",
    ),
    "role_user": ("你", "You"),
    "role_assistant": ("助手", "Assistant"),
    "role_tool": ("工具", "Tool"),
    "compare": ("⚖️ 对比", "⚖️ Compare"),
    "compare_on": ("对比模式", "Compare mode"),
    "compare_on_help": (
        "开启后，发送的问题会同时交给下面每个变体（模板、模型、温度），回答并排显示，每个的费用都计入",
        "When on, a sent question goes to every variant below (template, model, temperature) at once; the answers "
        "show side by side and each one's cost is booked",
    ),
    "compare_count": ("变体数", "Variants"),
    "compare_variant": ("变体 {label}", "Variant {label}"),
    "compare_model_help": ("留空则使用当前模型", "Empty: the current model"),
    "compare_active": ("⚖️ 对比模式已开启：{count} 个变体", "⚖️ Compare mode is on: {count} variants"),
    "compare_header": (
        "**{label}** · {template} · {model} · 温度 {temperature:.1f}",
        "**{label}** · {template} · {model} · temperature {temperature:.1f}",
    ),
    "compare_figures": ("总耗时 {total} · 结束原因 {finish}", "total {total} · finish {finish}"),
    "compare_awaiting": (
        "等待你批准工具调用（保留此回答后决定）",
        "waiting for your approval of its tool calls (keep this answer to decide)",
    ),
    "compare_title": ("对比：选择保留在对话中的回答", "Compare: choose the answer to keep in the chat"),
    "compare_others": (
        "其余回答作为这条回复的其他版本保留（‹ ›），其追踪也可查看",
        "The other answers stay as other versions of this reply (‹ ›), their traces with them",
    ),
    "compare_keep": ("保留此回答", "Keep this answer"),
    "image_detail": ("🖼️ 图片：{detail}", "🖼️ Images: {detail}"),
    "image_detail_label": ("图片以何种细节（detail）发送", "Detail the images are sent with"),
    "image_detail_help": (
        "low：每张 85 tokens，模型看到 512×512 的版本；high：缩放到 2048×2048 以内、短边不超过 768，每 512 像素一块 170 tokens，再加 85；auto：由模型决定（按 high 计算）。",
        "low: 85 tokens an image, the model sees a 512x512 version; high: scaled to fit 2048x2048 with its shortest side at most 768, then 170 tokens per 512-pixel tile plus 85; auto: the model decides (counted as high).",
    ),
    "detail_auto": ("auto（自动）", "auto"),
    "detail_low": ("low（省 tokens）", "low (fewer tokens)"),
    "detail_high": ("high（看清细节）", "high (fine detail)"),
    "image_limits": (
        "PNG、JPEG、WebP 或 GIF，每条消息最多 {count} 张，每张不超过 {mb} MB：点输入框的 📎，或拖入、粘贴。发送前按 OpenAI 的规则缩放（GIF 取第一帧）。",
        "PNG, JPEG, WebP or GIF, up to {count} per message and {mb} MB each: use the input's 📎, or drop or paste them. They are scaled as OpenAI scales them before sending (a GIF's first frame).",
    ),
    "image_tokens": ("{count} 张图片 · 约 {tokens} tokens", "{count} image(s) · about {tokens} tokens"),
    "image_refused_local": (
        "本地演示模型只能读文字：图片需要视觉模型。请在侧边栏“连接”中选择能读图的服务和模型（如 OpenAI 的 gpt-4o-mini），再点“重新发送”。",
        "The local demo model reads text only: images need a vision model. Pick a provider and a model that read images under “Connection” in the sidebar (OpenAI's gpt-4o-mini, say), then press “Send again”.",
    ),
    "image_refused_model": (
        "模型 {model} 不能读图片。请在侧边栏换一个视觉模型（如 gpt-4o-mini、gpt-4.1），再点“重新发送”。",
        "{model} reads no images. Pick a vision model in the sidebar (gpt-4o-mini, gpt-4.1, …), then press “Send again”.",
    ),
    "image_not_image": ("{name}：不是 PNG、JPEG、WebP 或 GIF 图片", "{name}: not a PNG, JPEG, WebP or GIF image"),
    "image_too_large": ("{name}：超过 {mb:.0f} MB（IMAGE_MAX_MB）", "{name}: larger than {mb:.0f} MB (IMAGE_MAX_MB)"),
    "image_too_many_pixels": (
        "{name}：像素过多（超过 {limit:.0f} 百万像素），未解码即拒绝",
        "{name}: too many pixels (more than {limit:.0f} megapixels), refused before decoding",
    ),
    "image_damaged": ("{name}：图片已损坏，无法读取", "{name}: the image is damaged and cannot be read"),
    "image_too_many": (
        "{name}：每条消息最多 {count} 张图片（IMAGE_MAX_COUNT）",
        "{name}: a message takes at most {count} images (IMAGE_MAX_COUNT)",
    ),
    "unsent_title": ("尚未发送，你的消息和图片已保留：", "Not sent; your message and images are kept:"),
    "send_again": ("重新发送", "Send again"),
    "discard": ("丢弃", "Discard"),
    # sign-in (AUTH=oidc or header)
    "auth_intro": ("请先登录。", "Please sign in to continue."),
    "auth_sign_in": ("登录", "Sign in"),
    "auth_sign_out": ("退出登录", "Sign out"),
    "auth_signed_in": ("已登录：{email}", "Signed in as {email}"),
    "auth_signed_in_admin": ("已登录：{email}（管理员）", "Signed in as {email} (admin)"),
    "auth_own_key": (
        "请在「连接」中填写你自己的 API Key（只保存在本次浏览器会话中）。",
        "Type your own API key under Connection (kept in this browser session only).",
    ),
    "auth_oidc_unconfigured": (
        "AUTH=oidc 需要 .streamlit/secrets.toml 中的 [auth] 设置，缺少：{missing}。参见 README 的 “Deploy for a team” 一节。",
        "AUTH=oidc needs an [auth] section in .streamlit/secrets.toml; missing: {missing}. "
        "See “Deploy for a team” in the README.",
    ),
    "auth_refused_not_allowed": (
        "{detail} 无权使用此应用。请联系管理员，或退出后换一个账号登录。",
        "{detail} may not use this app. Ask an admin, or sign out and use another account.",
    ),
    "auth_refused_no_email": (
        "登录服务没有提供电子邮件地址（需要 email 范围）。",
        "The sign-in provider gave no e-mail address (the email scope is needed).",
    ),
    "auth_refused_unverified": (
        "{detail} 尚未在登录服务中验证。",
        "{detail} is not verified at the sign-in provider.",
    ),
    "auth_refused_malformed": (
        "登录信息中的电子邮件地址无效：{detail}",
        "The signed-in e-mail address is not valid: {detail}",
    ),
    "auth_refused_untrusted_peer": (
        "此连接不是来自受信任的代理（AUTH_TRUSTED_PROXIES），其 {header} 请求头不被采信。",
        "This connection does not come from a trusted proxy (AUTH_TRUSTED_PROXIES); its {header} header is not "
        "believed.",
    ),
    "auth_refused_forwarded": (
        "此连接的地址取自 X-Forwarded-For，无法证明来自代理，其 {header} 请求头不被采信。代理与应用在同一台机器上时，"
        "请以 FORWARDED_ALLOW_IPS=none 启动应用，使其看到代理本身的地址。",
        "This connection's address was taken from X-Forwarded-For, which proves no proxy; its {header} header is not "
        "believed. With the proxy on this machine, start the app with FORWARDED_ALLOW_IPS=none so it sees the "
        "proxy's own address.",
    ),
    "auth_refused_no_header": (
        "代理没有发送登录信息（{header} 请求头）。",
        "The proxy sent no sign-in header ({header}).",
    ),
    # a team (ui_team.py): share links and the admins' view
    "share": ("🔗 分享", "🔗 Share"),
    "share_help": (
        "发布此对话当前内容的只读快照：任何已登录的人都能通过链接查看，直到你撤销。之后的新消息不在快照中。",
        "Publish a read-only snapshot of this chat as it is now: anyone signed in can open the link until you "
        "revoke it. Later messages are not in it.",
    ),
    "share_publish": ("发布快照链接", "Publish a snapshot link"),
    "share_published": ("链接已创建，见下方。", "Link created, see below."),
    "share_mine": ("我的分享链接", "My share links"),
    "share_none": ("还没有分享链接。", "No share links yet."),
    "share_revoke": ("撤销", "Revoke"),
    "share_revoked": ("链接已撤销，它不再能打开快照。", "The link is revoked: it no longer opens the snapshot."),
    "share_view_caption": (
        "{owner} 于 {created} 分享的只读快照",
        "A read-only snapshot shared by {owner} on {created}",
    ),
    "chat_not_found": (
        "找不到地址中的对话：它可能已被删除，或链接有误。已为你打开一个新对话。",
        "The chat this address names was not found: it may have been deleted, or the link is wrong. A new chat is open.",
    ),
    "share_not_found": (
        "找不到这个分享链接：它可能已被撤销，或链接有误。",
        "This share link was not found: it may have been revoked, or the link is wrong.",
    ),
    "share_back": ("返回我的对话", "Back to my chats"),
    "team_title": ("👥 团队（管理员）", "👥 Team (admin)"),
    "team_not_saved": ("无法保存：{detail}", "Could not save: {detail}"),
    "team_user": ("用户", "User"),
    "team_name": ("姓名", "Name"),
    "team_last_seen": ("最近访问", "Last seen"),
    "team_today": ("今日花费（{currency}）", "Today ({currency})"),
    "team_tokens_today": ("今日 tokens", "Tokens today"),
    "team_month": ("近 {days} 天（{currency}）", "Last {days} days ({currency})"),
    "team_budget": ("每日预算", "Daily budget"),
    "team_budget_none": ("不限", "no limit"),
    "team_budget_default": ("默认（{limit}）", "default ({limit})"),
    "team_single_user": ("（登录功能启用前的单用户数据）", "(single-user data from before sign-in)"),
    "team_no_spend": ("近 {days} 天没有花费。", "Nothing spent in the last {days} days."),
    "team_chart": (
        "近 {days} 天每位用户每日花费（{currency}，按 UTC 日期）",
        "Spend per user per day, last {days} days ({currency}, UTC days)",
    ),
    "team_budget_user": ("设置每日预算：用户", "Set the daily budget of"),
    "team_budget_user_help": (
        "也可以输入尚未登录过的人的电子邮件地址。",
        "You may also type the e-mail address of someone who has not signed in yet.",
    ),
    "team_budget_now": ("当前：{limit}", "Now: {limit}"),
    "team_budget_amount": ("每日预算（{currency}，0 为不限）", "Daily budget ({currency}, 0 = no limit)"),
    "team_budget_save": ("保存", "Save"),
    "team_budget_clear": ("恢复默认", "Use the default"),
    "team_budget_saved": ("已保存 {email} 的每日预算。", "Saved the daily budget of {email}."),
    "team_budget_cleared": ("{email} 重新使用全局每日预算。", "{email} uses the global daily budget again."),
    "team_budget_bad_email": ("不是有效的电子邮件地址：{email}", "Not an e-mail address: {email}"),
}


def t(key: str, language: str, **values: object) -> str:
    zh, en = STRINGS[key]
    text = zh if language == "zh" else en
    return text.format(**values) if values else text


def pick_language(setting: str, browser_locale: str | None) -> str:
    """An explicit setting wins; otherwise the browser's locale decides (Chinese or English)."""
    if setting in LANGUAGES:
        return setting
    return "zh" if (browser_locale or "").lower().startswith("zh") else "en"
