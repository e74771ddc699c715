//! Model provider client (Anthropic Messages API, OpenAI-compatible chat completions) with
//! token budgets and the degradation chain. Written with compact-memory; shared with
//! publish-report's analysis paragraph.
