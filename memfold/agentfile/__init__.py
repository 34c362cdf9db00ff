"""Agent Files (`.af`): Letta's portable format for agents, read in both of its generations and
written in the current one. See docs/architecture.md ("Agent files") for the mapping."""

from memfold.agentfile.exporter import export_agent
from memfold.agentfile.format import PASSAGES_KEY, AgentFile
from memfold.agentfile.importer import AgentFileImporter, ImportResult
from memfold.agentfile.options import ImportOptions, Skipped
from memfold.agentfile.reader import parse_agent_file

__all__ = [
    "PASSAGES_KEY",
    "AgentFile",
    "AgentFileImporter",
    "ImportOptions",
    "ImportResult",
    "Skipped",
    "export_agent",
    "parse_agent_file",
]
