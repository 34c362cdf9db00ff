"""`memfold folders upload` against a `memfold serve` subprocess: progress, resume, replace, errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from memfold.cli import app as cli
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.timeout(90)


def test_upload_a_directory_then_resume_and_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nApples are red.\n")
    (docs / "sub" / "b.txt").write_text("Bananas are yellow.\n")
    (docs / "skip.bin").write_bytes(b"\x00\x01")  # not a supported type: not picked from a directory
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    runner = CliRunner()
    with ServerProcess(tmp_path / "home") as server:
        first = runner.invoke(cli, ["folders", "upload", "kb", str(docs), "--url", server.base_url])
        assert first.exit_code == 0, first.output
        assert "2 uploaded, 0 unchanged, 0 failed" in first.output

        (docs / "a.md").write_text("# A\n\nApricots are orange.\n")
        again = runner.invoke(cli, ["folders", "upload", "kb", str(docs), "--url", server.base_url])
        assert again.exit_code == 0, again.output
        assert "1 uploaded, 1 unchanged, 0 failed" in again.output

        failed = runner.invoke(cli, ["folders", "upload", "kb", str(broken), "--url", server.base_url])
        assert failed.exit_code == 1
        assert "broken.json: invalid JSON" in failed.output

        with httpx.Client(base_url=server.base_url) as http:
            folder = http.get("/v1/folders/", params={"name": "kb"}).json()[0]
            files = http.get(f"/v1/folders/{folder['id']}/files", params={"include_content": True}).json()
        by_name = {f["file_name"]: f for f in files}
        assert sorted(by_name) == ["a.md", "b.txt", "broken.json"]
        assert "Apricots" in by_name["a.md"]["content"]
        assert by_name["b.txt"]["processing_status"] == "completed"

        missing = runner.invoke(
            cli, ["folders", "upload", "nope", str(docs), "--no-create", "--url", server.base_url]
        )
        assert missing.exit_code == 1 and "no folder named 'nope'" in missing.output
