"""The fixed vocabularies of the tenants app (stored as their string values)."""

from enum import StrEnum


class Country(StrEnum):
    NL = "NL"
    BE = "BE"


class Procedure(StrEnum):
    UNWANTED_BEHAVIOUR = "unwanted_behaviour"
    INTEGRITY = "integrity"
    REHABILITATION = "rehabilitation"


class MembershipRole(StrEnum):
    COUNSELLOR = "counsellor"
    ORGANISATION_CONTACT = "organisation_contact"


class AnonymityMode(StrEnum):
    ANONYMOUS = "anonymous"
    CONFIDENTIAL = "confidential"
    REPORTER_CHOOSES = "reporter_chooses"


class Sector(StrEnum):
    EDUCATION = "education"
    CARE = "care"
    HOUSING = "housing"
    PUBLIC = "public"
    FINANCIAL = "financial"  # whistleblower-law duties whatever the headcount
    BUSINESS = "business"
    NON_PROFIT = "non_profit"
    OTHER = "other"


class Assignment(StrEnum):
    """A counsellor's place in an organisation: the primary handles new reports, the
    substitute takes over when the primary is away."""

    PRIMARY = "primary"
    SUBSTITUTE = "substitute"
