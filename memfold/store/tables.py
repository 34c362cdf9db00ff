"""The database schema as SQLAlchemy Core tables. Migrations create it; this module names it.

Every row belongs to an organization. Messages are never deleted by the agent loop: the
agent's `message_ids` (ordered) says which of them are in context; the rest is recall.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from memfold.store.pg_vectors import Embedding

metadata = MetaData()

organizations = Table(
    "organizations",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("agent_type", String, nullable=False),
    Column("description", Text),
    Column("system", Text, nullable=False),
    Column("model", String, nullable=False),
    Column("context_window_limit", Integer, nullable=False),
    Column("llm_config", JSON, nullable=False),
    Column("embedding_config", JSON),
    Column("message_ids", JSON, nullable=False),
    Column("tool_rules", JSON, nullable=False),
    Column("metadata", JSON),
    Column("tool_exec_environment_variables", JSON),
    Column("timezone", String),
    Column("last_stop_reason", String),
    Column("last_run_completion", DateTime(timezone=True)),
    Column("last_run_duration_ms", Integer),
    Column("memory_edited_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("max_files_open", Integer),  # None: derived from the context window (memfold.folders.views)
    Column("per_file_view_window_char_limit", Integer),
    Index("ix_agents_org_created", "organization_id", "created_at"),
    Index("ix_agents_org_name", "organization_id", "name"),
)

agent_tags = Table(
    "agent_tags",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String, primary_key=True),
    Index("ix_agent_tags_tag", "tag"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("label", String, nullable=False),
    Column("value", Text, nullable=False),
    Column("limit", Integer, nullable=False),
    Column("description", Text),
    Column("read_only", Boolean, nullable=False),
    Column("hidden", Boolean),
    Column("is_template", Boolean, nullable=False),
    Column("template_name", String),
    Column("tags", JSON),
    Column("metadata", JSON),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_blocks_org_label", "organization_id", "label"),
)

agent_blocks = Table(
    "agent_blocks",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("block_id", String, ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_agent_blocks_block", "block_id"),
)

tools = Table(
    "tools",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("description", Text),
    Column("tool_type", String, nullable=False),
    Column("source_type", String),
    Column("source_code", Text),
    Column("json_schema", JSON, nullable=False),
    Column("tags", JSON),
    Column("return_char_limit", Integer, nullable=False),
    Column("pip_requirements", JSON),
    Column("default_requires_approval", Boolean),
    Column("metadata", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "name", name="uq_tools_org_name"),
)

agent_tools = Table(
    "agent_tools",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("tool_id", String, ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_agent_tools_tool", "tool_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("role", String, nullable=False),
    Column("content", Text),
    Column("reasoning", Text),
    Column("tool_calls", JSON),
    Column("tool_call_id", String),
    Column("tool_status", String),
    Column("name", String),
    Column("sender_id", String),
    Column("otid", String),
    Column("step_id", String),
    Column("run_id", String),
    Column("is_err", Boolean),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("approval", JSON),
    Index("ix_messages_agent_seq", "agent_id", "seq"),
    Index("ix_messages_run", "run_id"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", String),
    Column("model", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("total_tokens", Integer, nullable=False),
    Column("context_window_limit", Integer),
    Column("stop_reason", String),
    Column("status", String, nullable=False),
    Column("llm_ms", Integer),
    Column("duration_ms", Integer),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_steps_agent_created", "agent_id", "created_at"),
    Index("ix_steps_run", "run_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String, nullable=False),
    Column("stop_reason", String),
    Column("background", Boolean, nullable=False),
    Column("request", JSON),
    Column("metadata", JSON),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    # The durable queue: a worker leases a run; an expired lease (a crashed worker) frees it again.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("callback_url", String),
    # Set by a cancel request; the process holding the lease stops the run at its next step boundary.
    Column("cancel_requested_at", DateTime(timezone=True)),
    Index("ix_runs_agent_created", "agent_id", "created_at"),
    Index("ix_runs_status", "status"),
)

# --- API keys: a key belongs to an organization; only its hash is stored ----------------------

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("key_hash", String, nullable=False, unique=True),
    Column("key_prefix", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# --- block history: every saved version of a block (audit, rollback) -------------------------

block_history = Table(
    "block_history",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("block_id", String, ForeignKey("blocks.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", String, nullable=False),
    Column("value", Text, nullable=False),
    Column("limit", Integer, nullable=False),
    Column("description", Text),
    Column("actor_type", String),
    Column("actor_id", String),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("block_id", "version", name="uq_block_history_block_version"),
)

# --- MCP servers: tools served by other processes over the Model Context Protocol -------------

mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("server_name", String, nullable=False),
    Column("server_type", String, nullable=False),  # stdio | streamable_http | sse
    Column("command", String),
    Column("args", JSON),
    Column("env", JSON),
    Column("server_url", String),
    Column("auth_header", String),
    Column("auth_token", String),
    Column("custom_headers", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "server_name", name="uq_mcp_servers_org_name"),
)

# --- archival memory: archives of passages, attached to agents ------------------------------
# Full-text indexes (SQLite FTS5 tables `passages_fts`, `message_search_fts` and their triggers)
# are created by the migrations and kept out of this declaration: see memfold.store.fulltext.

archives = Table(
    "archives",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("description", Text),
    Column("embedding_config", JSON, nullable=False),
    Column("vector_db_provider", String, nullable=False),
    Column("metadata", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_archives_org_created", "organization_id", "created_at"),
)

agent_archives = Table(
    "agent_archives",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("archive_id", String, ForeignKey("archives.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_agent_archives_archive", "archive_id"),
)

# `seq` is never reused (AUTOINCREMENT): it keys the in-process vector index.
passages = Table(
    "passages",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("archive_id", String, ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("tags", JSON),
    Column("metadata", JSON),
    Column("embedding", Embedding()),
    Column("embedding_handle", String),
    Column("embedding_dim", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_passages_archive_seq", "archive_id", "seq"),
    Index("ix_passages_archive_created", "archive_id", "created_at"),
    sqlite_autoincrement=True,
)

passage_tags = Table(
    "passage_tags",
    metadata,
    Column(
        "passage_seq",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("passages.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("tag", String, primary_key=True),
    Column("archive_id", String, nullable=False),
    Index(
        "ix_passage_tags_archive_tag", "archive_id", "tag", "passage_seq"
    ),  # covering: filters read only it
)

# --- recall memory: the searchable form of every message (text, embedding) ------------------
# Filled lazily from `messages` when an agent's history is searched (memfold.memory.recall).

message_search = Table(
    "message_search",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("messages.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("role", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("text", Text, nullable=False),
    Column("embedding", Embedding()),
    Column("embedding_handle", String),
    Column("embedding_dim", Integer),
    Index("ix_message_search_agent_seq", "agent_id", "seq"),
    Index("ix_message_search_agent_created", "agent_id", "created_at"),
    Index("ix_message_search_agent_handle", "agent_id", "embedding_handle"),
)

# --- folders of files (memfold.folders): each folder owns an archive that holds its chunks ------
# A file's chunks are passages of the folder's archive tagged `file:<file id>`.

folders = Table(
    "folders",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("archive_id", String, ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
    Column("name", String, nullable=False),
    Column("description", Text),
    Column("instructions", Text),
    Column("metadata", JSON),
    Column("chunk_size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "name", name="uq_folders_org_name"),
    Index("ix_folders_org_created", "organization_id", "created_at"),
)

folder_files = Table(
    "folder_files",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("folder_id", String, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("file_name", String, nullable=False),
    Column("original_file_name", String, nullable=False),
    Column("file_type", String),
    Column("file_size", Integer, nullable=False),
    Column("content_hash", String, nullable=False),
    Column("processing_status", String, nullable=False),
    Column("error_message", Text),
    Column("total_chunks", Integer),
    Column("chunks_embedded", Integer),
    Column("content", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_folder_files_folder_name", "folder_id", "file_name"),
    Index("ix_folder_files_folder_created", "folder_id", "created_at"),
    Index("ix_folder_files_status", "processing_status"),
)

# --- groups: a main agent and the sleep-time agent that tends its memory ----------------------

groups = Table(
    "groups",
    metadata,
    Column("id", String, primary_key=True),
    Column("organization_id", String, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("manager_type", String, nullable=False),
    Column("description", Text, nullable=False),
    Column("manager_agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("sleeptime_agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("sleeptime_agent_frequency", Integer, nullable=False),
    Column("turns_counter", Integer, nullable=False),
    Column("turns_since_run", Integer, nullable=False),
    Column("last_processed_message_id", String),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("manager_agent_id", name="uq_groups_manager_agent"),
    Index("ix_groups_sleeptime_agent", "sleeptime_agent_id"),
    Index("ix_groups_org_created", "organization_id", "created_at"),
)

# --- folders attached to agents, and each agent's open files (memfold.folders.agent_files) ------

agent_folders = Table(
    "agent_folders",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("folder_id", String, ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_agent_folders_folder", "folder_id"),
)

# One row per file an agent has opened (open now or closed since); no row = never opened.
agent_files = Table(
    "agent_files",
    metadata,
    Column("agent_id", String, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", String, ForeignKey("folder_files.id", ondelete="CASCADE"), primary_key=True),
    Column("folder_id", String, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("start_line", Integer),
    Column("end_line", Integer),
    Column("total_lines", Integer),
    Column("visible_content", Text),
    Column("last_accessed_at", DateTime(timezone=True), nullable=False),
    Index("ix_agent_files_agent_open", "agent_id", "is_open"),
    Index("ix_agent_files_file", "file_id"),
    Index("ix_agent_files_folder", "folder_id"),
)
