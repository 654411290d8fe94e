"""Verifiable credentials we issue: the issuer's key and DID, VC-JOSE securing (compact JWS,
`typ` vc+jwt), W3C Bitstring Status Lists, and the verifier a partner would run.

The issuing step comes after a credential format maps and checks a record (see
`exchange.credentials.issuer`): it gives each version its own id, allocates its status
entries, checks the whole credential against its schema, then signs it.
"""
