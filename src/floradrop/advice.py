"""Advice that fits the cause: what a person should do about a failure.

Each helper looks at what actually went wrong and says what to do about that, and only that.
"""

from __future__ import annotations

# Run error codes FLORA documents as "change the input" (../shared/flora-api/REFERENCE.md §9.3).
_CHANGE_INPUT = (
    "MODERATED",
    "REFUSAL",
    "SAFETY",
    "INPUT_VALIDATION",
    "INVALID_PARAMS",
    "INVALID_URL",
)
_TRANSIENT = (
    "TIMEOUT",
    "PROVIDER",
    "GENERIC",
    "FAILED_TO",
    "SERVER",
    "QUEUE",
    "NO_RESULT",
    "DOWNSTREAM",
)


def run_failure_hint(code: str | None, message: str | None) -> str:
    """What a person should do about a run that FLORA reports as failed."""
    text = f"{code or ''} {message or ''}".upper()
    if any(word in text for word in ("SAFETY", "MODERAT", "POLICY", "REFUS")) or any(
        c in text for c in _CHANGE_INPUT
    ):
        return "FLORA refused this input; change the file (or its prompt) and drop it again."
    if text.startswith(("BILLING", "GENERATION_NOT_PAID")) or "ENTITLEMENT" in text:
        return "check your FLORA plan and billing, then retry with 'floradrop retry'."
    if any(c in text for c in _TRANSIENT):
        return "this looks temporary on FLORA's side; retry later with 'floradrop retry'."
    return "check the file and the technique in the FLORA app; 'floradrop retry' runs it again."
