"""Folders of files: parsing uploads to text, structure-aware chunking, the background ingestion job.

A folder's chunks are passages of an archive the folder owns (memfold.store.folders), so they
are searched with the archival store's hybrid search.
"""

from memfold.folders.chunking import chunk_document, chunk_limits
from memfold.folders.document import Block, Document, FileParseError
from memfold.folders.ingest import FileIngestion, IngestJob, recover_files
from memfold.folders.parsing import SUPPORTED_TYPES, file_type, parse_file

__all__ = [
    "SUPPORTED_TYPES",
    "Block",
    "Document",
    "FileIngestion",
    "FileParseError",
    "IngestJob",
    "chunk_document",
    "chunk_limits",
    "file_type",
    "parse_file",
    "recover_files",
]
