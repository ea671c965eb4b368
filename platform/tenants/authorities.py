"""Competent external authorities an organisation's integrity reports may go to, prefilled
per country at onboarding (the bureau admin adds and removes them afterwards).

Names and public websites only: the authorities' own pages say what they handle.
"""

from __future__ import annotations

from typing import NamedTuple

from tenants.choices import Country


class Authority(NamedTuple):
    name: str
    contact: str


PREFILLED: dict[Country, tuple[Authority, ...]] = {
    Country.NL: (
        Authority("Huis voor Klokkenluiders", "https://www.huisvoorklokkenluiders.nl"),
        Authority("Autoriteit Financiële Markten", "https://www.afm.nl"),
        Authority("De Nederlandsche Bank", "https://www.dnb.nl"),
        Authority("Autoriteit Consument & Markt", "https://www.acm.nl"),
        Authority("Autoriteit Persoonsgegevens", "https://www.autoriteitpersoonsgegevens.nl"),
        Authority("Inspectie Gezondheidszorg en Jeugd", "https://www.igj.nl"),
        Authority("Nederlandse Arbeidsinspectie", "https://www.nlarbeidsinspectie.nl"),
        Authority("Inspectie van het Onderwijs", "https://www.onderwijsinspectie.nl"),
    ),
    Country.BE: (
        Authority("Federale Ombudsman", "https://www.federaalombudsman.be"),
        Authority("FSMA", "https://www.fsma.be"),
        Authority("Nationale Bank van België", "https://www.nbb.be"),
        Authority(
            "Gegevensbeschermingsautoriteit / Autorité de protection des données",
            "https://www.gegevensbeschermingsautoriteit.be",
        ),
        Authority(
            "FOD Werkgelegenheid, Arbeid en Sociaal Overleg - Toezicht op het Welzijn op het Werk",
            "https://werk.belgie.be",
        ),
    ),
}


def prefilled(country: str) -> tuple[Authority, ...]:
    """The authorities to start with for an organisation in `country` (none if unknown)."""
    try:
        return PREFILLED[Country(country)]
    except ValueError:
        return ()
