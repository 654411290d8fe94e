"""What a record says about the standing of what it certifies, in status-list terms.

Certificate-level: every version of a certificate's credential follows the latest record.
Revocation is final (the specification: not reversible); suspension is lifted by a
record that reinstates. Records without a status (PT rounds) are always active.
"""

from __future__ import annotations

from enum import StrEnum

from exchange.intake import CanonicalRecord
from exchange.model import CertStatus, GlpStatement, GlpStatus, ProductCertificate


class Standing(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


_CERTIFICATE = {
    CertStatus.VALID: Standing.ACTIVE,
    CertStatus.EXPIRED: Standing.ACTIVE,  # lapsed, not withdrawn: validUntil says so
    CertStatus.SUSPENDED: Standing.SUSPENDED,
    CertStatus.WITHDRAWN: Standing.REVOKED,
    CertStatus.CANCELLED: Standing.REVOKED,
}
_GLP = {
    GlpStatus.IC: Standing.ACTIVE,
    GlpStatus.PEN: Standing.ACTIVE,
    GlpStatus.NIC: Standing.SUSPENDED,
    GlpStatus.RFP: Standing.REVOKED,
}


def standing_of(record: CanonicalRecord) -> Standing:
    if isinstance(record, ProductCertificate):
        return _CERTIFICATE[record.status]
    if isinstance(record, GlpStatement):
        return _GLP[record.status]
    return Standing.ACTIVE
