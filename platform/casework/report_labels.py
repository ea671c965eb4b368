"""Words for the codes an annual report and the register show, for the exports (CSV, PDF),
which are not rendered by a template.

The message ids are the same English strings the screens use (`cases/_labels.html`,
`tenants/_labels.html`), so one translation serves both. `N_` only marks a string for
extraction; `Labels` translates with the catalog of the export's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from casework.annual_model import Figure, FigureState, TableKey


def N_(message: str) -> str:
    return message


PROCEDURES = {
    "unwanted_behaviour": N_("Unwanted behaviour"),
    "integrity": N_("Integrity violation"),
    "rehabilitation": N_("Rehabilitation"),
}
CATEGORIES = {
    "bullying": N_("Bullying"),
    "sexual_harassment": N_("Sexual harassment"),
    "intimidation": N_("Intimidation"),
    "discrimination": N_("Discrimination"),
    "aggression_violence": N_("Aggression or violence"),
    "fraud": N_("Fraud"),
    "corruption": N_("Corruption"),
    "theft": N_("Theft"),
    "conflict_of_interest": N_("Conflict of interest"),
    "information_misuse": N_("Leaking or misuse of information"),
    "resource_misuse": N_("Misuse of company resources"),
    "public_interest_wrongdoing": N_("Wrongdoing against the public interest"),
    "false_accusation_conduct": N_("Wrongly accused of unwanted behaviour"),
    "false_accusation_integrity": N_("Wrongly accused of an integrity violation"),
    "other": N_("Other"),
}
OUTCOMES = {
    "listening_only": N_("Listening only"),
    "informal_solution": N_("Informal solution"),
    "referral": N_("Referral"),
    "formal_complaint": N_("Formal complaint"),
    "integrity_report": N_("Integrity report to the organisation"),
    "external_report": N_("External report"),
    "no_follow_up": N_("No follow-up"),
    "withdrawn": N_("Withdrawn by the reporter"),
    "rehabilitation_completed": N_("Rehabilitation completed"),
    "partly_completed": N_("Rehabilitation partly completed"),
    "": N_("Still open"),
}
ROLES = {
    "employee": N_("Employee"),
    "manager": N_("Manager"),
    "": N_("Not recorded"),
}
CHANNELS = {
    "online": N_("Online report"),
    "phone": N_("Phone call"),
    "walk_in": N_("Visit"),
}
SECTORS = {
    "education": N_("Education"),
    "care": N_("Care"),
    "housing": N_("Housing"),
    "public": N_("Public sector"),
    "financial": N_("Financial sector"),
    "business": N_("Business"),
    "non_profit": N_("Non-profit"),
    "other": N_("Other"),
    "": N_("Sector not given"),
}
TABLE_TITLES = {
    TableKey.PROCEDURE: N_("Cases per procedure"),
    TableKey.CATEGORY: N_("Cases per category"),
    TableKey.OUTCOME: N_("Cases per route or outcome"),
    TableKey.ROLE: N_("Cases per reporter role"),
    TableKey.CHANNEL: N_("Cases per channel"),
    TableKey.SECTOR: N_("Cases per sector"),
}
STATUSES = {
    "received": N_("Received"),
    "in_progress": N_("In progress"),
    "closed": N_("Closed"),
}
# Words only the PDF exports print (the screens have their own in the templates).
PDF_WORDS = {
    "annual_report": N_("Annual report %(year)s"),
    "bureau": N_("Counsellor bureau: %(name)s"),
    "draft": N_("Draft"),
    "review": N_("For review"),
    "finalised_on": N_("Finalised on %(date)s"),
    "key_figures": N_("Key figures"),
    "cases": N_("Cases"),
    "contacts": N_("Contacts"),
    "hours": N_("Hours spent"),
    "difference": N_("Difference"),
    "total": N_("Total"),
    "nothing": N_("Nothing to show for this year."),
    "reading": N_("How to read the figures"),
    "narrative": N_("Trends and recommendations"),
    "preventive": N_("Preventive activities"),
    "page": N_("page %(page)s of %(pages)s"),
    "register": N_("Register of cases"),
    "generated_on": N_("Generated on %(date)s"),
    "cases_count": N_("Cases: %(count)s"),
    "no_cases": N_("This organisation has no cases yet."),
    "reference": N_("Reference"),
    "received_on": N_("Received on"),
    "channel": N_("Channel"),
    "procedure": N_("Procedure"),
    "categories": N_("Categories"),
    "status": N_("Status"),
    "outcome": N_("Outcome"),
    "closed_on": N_("Closed on"),
}
CODES: dict[TableKey, dict[str, str]] = {
    TableKey.PROCEDURE: PROCEDURES,
    TableKey.CATEGORY: CATEGORIES,
    TableKey.OUTCOME: OUTCOMES,
    TableKey.ROLE: ROLES,
    TableKey.CHANNEL: CHANNELS,
    TableKey.SECTOR: SECTORS,
}


@dataclass(frozen=True)
class Labels:
    """Translated words for one language; `gettext` is plain text (no HTML escaping)."""

    gettext: Callable[..., str]

    def code(self, table: TableKey, code: str) -> str:
        return self.gettext(CODES[table].get(code, code))

    def status(self, code: str) -> str:
        return self.gettext(STATUSES.get(code, code))

    def word(self, key: str, **variables: object) -> str:
        """A word of the PDF exports by its key in `PDF_WORDS`, with its variables filled in."""
        return self.gettext(PDF_WORDS[key], **variables)

    def report_status(self, status: str) -> str:
        """A report's status; a final report carries no marker, so "Final" is said here."""
        if status == "final":
            return self.gettext("Final")
        return self.word("draft" if status == "draft" else "review")

    def sector(self, code: str) -> str:
        return self.gettext(SECTORS.get(code, code))

    def title(self, table: TableKey) -> str:
        return self.gettext(TABLE_TITLES[table])

    def figure(self, figure: Figure | None, k: int) -> str:
        """A published figure as text: the number, "< k" for a small count, "•" for a count
        withheld to protect a small one (the legend says so), "" for no figure at all."""
        if figure is None:
            return ""
        if figure.state is FigureState.SMALL:
            return f"< {k}"
        if figure.state is FigureState.HIDDEN:
            return "•"
        return str(figure.value)

    def difference(self, difference: int | None) -> str:
        if difference is None:
            return ""
        return f"+{difference}" if difference > 0 else str(difference)

    def small_legend(self, k: int) -> str:
        return self.gettext(
            "%(small)s: fewer than %(k)s, not shown so that no one can be recognised.",
            small=f"< {k}",
            k=k,
        )

    def hidden_legend(self) -> str:
        return self.gettext(
            "•: not shown, so that a smaller number cannot be worked out from the total."
        )

    def multiple_note(self) -> str:
        return self.gettext(
            "A case may fall under several categories, so these numbers do not add up to the"
            " number of cases."
        )

    def withheld_note(self) -> str:
        return self.gettext("Too few cases to break them down without someone being recognised.")
