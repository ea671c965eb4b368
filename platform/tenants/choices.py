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
