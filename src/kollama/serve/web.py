"""The web page (static files shipped in the package, no CDN) and the small JSON routes it needs:
/health, /v1/fidelity (foreign spans to highlight), /v1/reports (saved `kollama compare` reports)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from kollama.korean.fidelity import SCRIPT_COLOURS, fidelity_report
from kollama.korean.morphology import nfc
from kollama.korean.scripts import language
from kollama.serve.errors import OPENAI_ERRORS, ApiError
from kollama.serve.schemas import FidelityRequest
from kollama.serve.state import decide_language, state_of

STATIC = Path(str(resources.files("kollama.serve").joinpath("static")))

router = APIRouter(responses=OPENAI_ERRORS)


def script_colours() -> dict[str, str]:
    """CSS colours per script, the same ones the compare report uses."""
    from kollama.compare.report import script_colour

    return {script: script_colour(script) for script in SCRIPT_COLOURS}


@router.get("/health", tags=["server"], summary="Liveness and load; open without a key")
async def health(request: Request) -> dict[str, Any]:
    state = state_of(request)
    return {"status": "ok", **state.limiter.stats(), "rag": state.documents is not None,
            "loaded": sorted({e.offered.name for e in list(state.pool.loaded.values())})}


@router.post("/v1/fidelity", tags=["kollama"], summary="Language fidelity report with foreign spans")
async def fidelity(body: FidelityRequest) -> dict[str, Any]:
    decision = decide_language(body.lang, [("user", body.prompt or "")])  # auto: the language the prompt asks for
    if decision and not body.prompt:
        raise ApiError(400, "lang auto decides the expected language from the prompt: send the prompt", param="lang")
    lang = decision.lang if decision else body.lang
    language(lang)
    report = fidelity_report(body.text, lang=lang, prompt=body.prompt)
    # span offsets index the NFC text; the page highlights that text
    return {**report.to_json(), "text": nfc(body.text), "colours": script_colours(),
            **(decision.to_json() if decision else {})}


def _reports(folders: list[Path]) -> dict[str, Path]:
    """Report folders by a stable id: each given folder, and its subfolders, holding report.html."""
    found: dict[str, Path] = {}
    for folder in folders:
        folder = folder.expanduser()
        if not folder.is_dir():
            continue
        for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
            if (candidate / "report.html").is_file():
                found[hashlib.sha256(str(candidate.resolve()).encode()).hexdigest()[:12]] = candidate
    return found


@router.get("/v1/reports", tags=["kollama"], summary="Saved compare reports")
async def reports(request: Request) -> dict[str, Any]:
    out = []
    for ident, folder in _reports(state_of(request).options.reports).items():
        summary: dict[str, Any] = {}
        results = folder / "results.json"
        if results.is_file():
            try:
                data = json.loads(results.read_text(encoding="utf-8"))
                summary = {k: data[k] for k in ("suite", "models", "created") if isinstance(data, dict) and k in data}
            except (OSError, ValueError):
                summary = {}
        out.append({"id": ident, "name": folder.name, "path": str(folder),
                    "modified": (folder / "report.html").stat().st_mtime, **summary})
    return {"reports": sorted(out, key=lambda r: -r["modified"])}


@router.get("/v1/reports/{ident}", tags=["kollama"], summary="One saved compare report (HTML)",
            responses={200: {"description": "the report page", "content": {"text/html": {}}}})
async def report(ident: str, request: Request) -> FileResponse:
    folder = _reports(state_of(request).options.reports).get(ident)
    if folder is None:
        raise ApiError(404, f"no report '{ident}'")
    return FileResponse(folder / "report.html", media_type="text/html")


def install_web(app: FastAPI) -> None:
    app.include_router(router)

    # HEAD too: the `ollama` CLI's heartbeat takes anything but 200 for a server that is down
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
