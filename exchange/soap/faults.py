"""Faults with stable codes: what a partner may branch on, and what the audit records.

A SoapFault is raised anywhere in request handling; the app renders it for the request's
SOAP version and audits it as REJECTED. The fault names who and what it concerns, so the
audit entry lands on the right message without leaking it to the wrong partner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exchange.errors import DocumentError


class FaultCode(StrEnum):
    """The values of mra:FaultCode in schemas/soap/exchange-1.0.xsd (a test keeps them equal)."""

    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    MUST_UNDERSTAND = "MUST_UNDERSTAND"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    NOT_AUTHORISED = "NOT_AUTHORISED"
    UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
    SCHEMA_INVALID = "SCHEMA_INVALID"
    RECORD_INVALID = "RECORD_INVALID"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    DUPLICATE = "DUPLICATE"
    UNKNOWN_CERTIFICATE = "UNKNOWN_CERTIFICATE"
    UNKNOWN_DOCUMENT = "UNKNOWN_DOCUMENT"
    INVALID_STATE = "INVALID_STATE"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


RECEIVER_CODES = frozenset({FaultCode.UNAVAILABLE, FaultCode.INTERNAL})
"""Our side failed: the partner may retry the same request later."""

MAX_PROBLEMS = 20
_MESSAGE = re.compile(r"^(?P<line>\d+):(?P<column>\d+)(?: at (?P<path>\S+))?: (?P<text>.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document, located where the validator could tell."""

    message: str
    line: int | None = None
    column: int | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("line", self.line), ("path", self.path), ("message", self.message)) if v}


class SoapFault(Exception):
    """A refusal: a code, a message for people, and what the audit entry should name."""

    def __init__(
        self,
        code: FaultCode,
        message: str,
        *,
        problems: Iterable[Problem] = (),
        message_id: str | None = None,
        record_id: str | None = None,
        partner: str | None = None,
        foreign: bool = False,
        details: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message[:1000]
        self.problems = list(problems)[:MAX_PROBLEMS]
        self.message_id = message_id
        """The message the refusal concerns (default: the request's own id)."""
        self.record_id = record_id
        self.partner = partner
        """Whose message it is, for the audit (default: the caller's)."""
        self.foreign = foreign
        """The caller reached for another partner's message: audited under no partner, so
        the refusal never shows in either partner's own message history."""
        self.details = dict(details or {})

    @property
    def sender(self) -> bool:
        return self.code not in RECEIVER_CODES


class SecurityFault(SoapFault):
    """A WS-Security refusal; `wsse_code` is the OASIS WSS fault code SOAP 1.1 answers with
    (FailedCheck, InvalidSecurity, MessageExpired, ...)."""

    def __init__(self, code: FaultCode, message: str, *, wsse_code: str, **kwargs: Any):
        super().__init__(code, message, **kwargs)
        self.wsse_code = wsse_code


def problems_of(exc: DocumentError) -> list[Problem]:
    """Validator messages ("line:column at path: text") as located problems."""
    out = []
    for text in exc.messages[:MAX_PROBLEMS]:
        m = _MESSAGE.match(text)
        if m is None:
            out.append(Problem(text))
        else:
            out.append(Problem(m["text"], int(m["line"]), int(m["column"]), m["path"]))
    return out
